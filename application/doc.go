// Package application holds Portcullis's use cases, one type per capability (Register, Login,
// Refresh, Logout, Authenticate, Profile, ChangePassword, Sessions). Each takes its ports in
// its constructor and exposes Handle-style methods over plain input and output structs. It
// depends on domain and ports only; HTTP, SQL, Redis and JWT live in adapters.
package application
