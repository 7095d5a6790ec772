// Package password is the password-hashing adapter: it implements ports.PasswordHasher with
// argon2id (the default, encoded as a PHC string) and bcrypt (for imported users, or by explicit
// choice), and bounds concurrent hashing with a semaphore sized to the machine's cores so that a
// burst of logins cannot exhaust memory or starve the request handlers.
//
// Verify also reports when a stored hash should be rewritten: a bcrypt hash while argon2id is
// configured, or argon2id parameters below the configured ones. The login use case checks unknown
// accounts against a hash of its own made through this hasher, so that they take as long as
// known ones (SECURITY B10).
package password
