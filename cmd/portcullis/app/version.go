package app

import (
	"cmp"
	"runtime/debug"
)

// Version identifies the running binary: the module version (a tag when built from one, else
// "(devel)"), the VCS commit it was built from, and the Go version.
type Version struct {
	Module   string
	Commit   string
	Modified bool // the work tree had uncommitted changes
	Go       string
}

// BuildVersion reads the version stamped into the binary by the Go toolchain.
func BuildVersion() Version {
	v := Version{Module: "(unknown)", Commit: "(unknown)", Go: "(unknown)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Go = cmp.Or(info.Main.Version, "(devel)"), info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one line `portcullis version` prints.
func (v Version) String() string {
	commit := v.Commit
	if v.Modified {
		commit += "+dirty"
	}
	return "portcullis " + v.Module + " (commit " + commit + ", " + v.Go + ")"
}
