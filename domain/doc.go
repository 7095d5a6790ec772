// Package domain holds Portcullis's entities and rules: users, roles, sessions, the password
// policy and the domain errors that cross every port. It imports the standard library only, has
// no JSON or SQL tags, and takes time as a value from its caller.
package domain
