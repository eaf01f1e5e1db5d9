// The auth service's entry. The bench never runs it (it serves dist/ with a static server, fix 5); it is here
// because the article's build has an entry, and it re-exports what the service shares.
module.exports = require('./tokenValidator.js');
