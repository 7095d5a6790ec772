package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// readPassword reads the new user's password from file, from one line of stdin, or from a
// prompt without echo (twice, and the two must match) when stdin is a terminal.
func readPassword(cmd *cobra.Command, file string, fromStdin bool) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(pw, "\r"), nil
	case fromStdin || !stdinIsTerminal(cmd):
		return readLine(cmd.InOrStdin(), "stdin")
	}
	fd := int(cmd.InOrStdin().(*os.File).Fd())
	prompt := func(p string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), p)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	pw, err := prompt("Password: ")
	if err != nil {
		return "", err
	}
	again, err := prompt("Repeat the password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

// readLine reads one line of r, without its line ending.
func readLine(r io.Reader, what string) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from %s: %w", what, err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("no password on %s", what)
	}
	return line, nil
}

func stdinIsTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.InOrStdin().(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks question on stderr and reads a yes or no from stdin.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	fmt.Fprint(cmd.ErrOrStderr(), question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
