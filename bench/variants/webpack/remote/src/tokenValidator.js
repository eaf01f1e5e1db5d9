// The validator the remote exposes. Its logic is the ferry demo's (examples/auth-service/src/tokenValidator.ts):
// ES256 against the auth service's public key, issuer checked, never throws. All three bench variants run the
// same check, so the figures compare the federation stacks, not two JWT algorithms. The bench writes
// jwt-public-key.generated.js before building.
const jwt = require('jsonwebtoken');
const { JWT_PUBLIC_KEY } = require('./jwt-public-key.generated.js');

const TOKEN_ISSUER = 'authService';

async function validateJwtToken(token) {
  try {
    const claims = jwt.verify(token, JWT_PUBLIC_KEY, { algorithms: ['ES256'], issuer: TOKEN_ISSUER });
    if (!isJwtUser(claims)) return { isValid: false, error: 'token does not describe a user' };
    return { isValid: true, user: { sub: claims.sub, username: claims.username, role: claims.role } };
  } catch (error) {
    return { isValid: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function isJwtUser(claims) {
  if (typeof claims !== 'object' || claims === null) return false;
  const { sub, username, role } = claims;
  return typeof sub === 'string' && typeof username === 'string' && (role === 'admin' || role === 'user');
}

module.exports = { validateJwtToken, TOKEN_ISSUER };
