package system

// StartPages says what ReleaseStartPages did: the process's resident file-backed memory
// (RssFile in /proc/self/status, mostly the executable's own pages) before and after, in bytes,
// and how many of the executable's mappings it advised.
type StartPages struct {
	Before, After int64
	Mappings      int
}
