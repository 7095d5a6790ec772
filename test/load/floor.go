package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/argon2"
)

// floorUser is what the bare Fiber floor answers: the shape and size of GET /api/users/me's
// body, so that the floor costs the same JSON encoding and bytes on the wire.
type floorUser struct {
	ID            string   `json:"id"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Username      string   `json:"username,omitempty"`
	Name          string   `json:"name"`
	Roles         []string `json:"roles"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

// serveFloor runs the bare Fiber JSON handler (GET /floor) on addr until SIGTERM or SIGINT:
// the ceiling of what any Fiber route can do on this machine, with the same server settings
// Portcullis uses that matter for speed (no prefork, default concurrency). It is started as a
// child process of the matrix, so that it competes for the cores as a server would.
func serveFloor(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !isLoopback(ip) {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/floor", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"user": floorUser{
			ID: "01JDQ4Z7X8M2N5P6R7S8T9V0WX", Email: "load-0123456789ab-0-01234567@example.com",
			Name: "Load Generator", Roles: []string{"user"},
			CreatedAt: "2026-11-29T23:00:00Z", UpdatedAt: "2026-11-29T23:00:00Z",
		}})
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- app.Listen(addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	}
}

// argonParams are the argon2id parameters of the hashing floor: Portcullis's defaults
// (PORTCULLIS_ARGON2_*), which the servers of the matrix run with.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

var defaultArgon = argonParams{memory: 19456, time: 2, threads: 1}

// argonFloor hashes with p on runtime.NumCPU() goroutines for d and returns hashes per second:
// the most logins per second these cores could verify if they did nothing else, and the CPU time
// in µs each hash took (this process's, which does nothing else meanwhile).
func argonFloor(ctx context.Context, p argonParams, d time.Duration) (rate, cpuPerHash float64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			salt := make([]byte, 16)
			_, _ = rand.Read(salt)
			for ctx.Err() == nil {
				_ = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, 32)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	hashes := float64(n.Load())
	if hashes == 0 {
		return 0, 0
	}
	return hashes / time.Since(start).Seconds(), float64((cpuTime() - cpu0).Microseconds()) / hashes
}
