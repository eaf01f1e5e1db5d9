// The article's user service: the remote's validator required synchronously at the top of the entry file, a
// middleware on every route with the article's answers, and GET /profile. The only change: it listens on PORT
// (0 = a free port) on 127.0.0.1 and prints the URL, so the bench can find it, and exits on a listen error.
const express = require('express');
const { validateJwtToken } = require('authServiceRemote/tokenValidator');

const app = express();

app.use(async (req, res, next) => {
  const authHeader = req.headers.authorization;
  if (!authHeader) return res.status(401).json({ error: 'No authorization header' });
  const token = authHeader.split(' ')[1];
  if (!token) return res.status(401).json({ error: 'Token not provided' });
  const { isValid, user, error } = await validateJwtToken(token);
  if (!isValid) return res.status(403).json({ error: `Invalid token: ${error}` });
  req.user = user;
  next();
});

app.get('/profile', (req, res) => {
  res.json({ message: `Welcome ${req.user.username}! This is your profile.`, user: req.user });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', (error) => {
  if (error) {
    console.error(`user-service: cannot listen: ${error.message}`);
    process.exit(1);
  }
  console.log(`user-service listening on http://127.0.0.1:${server.address().port}`);
});
