package testenv

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that collects output written from several goroutines at once (a
// logger serving concurrent requests, or the goroutines copying a child process's stdout and
// stderr) and that a test may read at any moment while writes go on. The zero value is an
// empty buffer ready to use; a Buffer must not be copied after first use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p. It is safe to call concurrently with itself and with String.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
