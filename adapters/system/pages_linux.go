//go:build linux

package system

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReleaseStartPages gives back to the kernel the pages of the running executable's code and
// read-only data that are resident at the time of the call, so that from then on only the pages
// the process goes on to use are resident again. Call it once start-up is done.
//
// Starting a Go service runs every linked package's initialisation and builds the service, and
// the kernel maps each touched page of the binary with its neighbours (fault-around and
// readahead): about 30 MB of a 70 MB binary are resident once Portcullis has started, most of
// which serving requests never touches again. For each read-only mapping of the executable
// (text, rodata, pclntab), once the file's dirty pages are written back (writeBack), it advises,
// in order:
//
//   - MADV_RANDOM: later faults read the one page needed, not a readahead window around it;
//   - MADV_PAGEOUT: pages this process alone maps are reclaimed (dropped from the page cache,
//     as they are clean and backed by the file; Linux 5.4 and later);
//   - MADV_DONTNEED: the process's mappings of the rest (pages another process maps too) are
//     removed; the pages stay in the page cache and are mapped again when used.
//
// Nothing is lost: every page is read again from the file when next used, at the price of a
// fault, a read from disk for a reclaimed page, on the first use of each page afterwards. The
// writable data segment and the heap are not touched.
func ReleaseStartPages() (StartPages, error) {
	var sp StartPages
	var err error
	if sp.Before, err = rssFile(); err != nil {
		return sp, err
	}
	spans, err := executableMappings()
	if err != nil {
		return sp, err
	}
	writeBack()
	for _, s := range spans {
		if err := advise(s, unix.MADV_RANDOM); err != nil {
			return sp, err
		}
		// PAGEOUT is refused (EINVAL) by kernels before 5.4: DONTNEED still unmaps.
		if err := advise(s, unix.MADV_PAGEOUT); err != nil && !errors.Is(err, unix.EINVAL) {
			return sp, err
		}
		if err := advise(s, unix.MADV_DONTNEED); err != nil {
			return sp, err
		}
		sp.Mappings++
	}
	sp.After, err = rssFile()
	return sp, err
}

// writeBack writes the executable's dirty pages to disk and waits for them: the kernel cannot
// reclaim a page that is not written back yet, so for a binary written moments before (go run, a
// test's fresh build) MADV_PAGEOUT would drop nothing and MADV_DONTNEED only unmap, and the next
// faults would map the page cache's large folios again whole. For a binary that is already on
// disk it writes nothing. It uses sync_file_range, which needs no write access and flushes no
// device cache; a failure (a file system that refuses it) leaves the release to do what it can.
func writeBack() {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0,
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}

// span is one mapping, [start, end).
type span struct{ start, end uintptr }

func advise(s span, advice int) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, uintptr(advice)); e != 0 {
		return fmt.Errorf("madvise %#x-%#x (%d): %w", s.start, s.end, advice, e)
	}
	return nil
}

// executableMappings lists the read-only mappings of the running executable's file (matched by
// device and inode, so a binary replaced on disk since start is still found) from
// /proc/self/maps.
func executableMappings() ([]span, error) {
	fi, err := os.Stat("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("stat /proc/self/exe: no inode")
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset major:minor inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Contains(fields[1], "w") || fields[4] != strconv.FormatUint(st.Ino, 10) {
			continue
		}
		major, minor, ok := strings.Cut(fields[3], ":")
		if !ok || !sameDevice(major, minor, uint64(st.Dev)) {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("/proc/self/maps: bad range %q", fields[0])
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, errors.New("/proc/self/maps: no read-only mapping of the executable")
	}
	return spans, nil
}

// sameDevice reports whether the hexadecimal major:minor of a /proc/self/maps line is dev.
func sameDevice(major, minor string, dev uint64) bool {
	ma, err1 := strconv.ParseUint(major, 16, 32)
	mi, err2 := strconv.ParseUint(minor, 16, 32)
	return err1 == nil && err2 == nil && uint32(ma) == unix.Major(dev) && uint32(mi) == unix.Minor(dev)
}

// rssFile is RssFile of /proc/self/status in bytes.
func rssFile() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: RssFile %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc/self/status: no RssFile")
}
