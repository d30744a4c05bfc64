package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadSecret reads a secret from a file, without its trailing white space
// (a final newline is the norm in mounted secrets). The error names the file,
// never its content.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("reading %s: %w", path, pe.Err)
		}
		return "", err
	}
	s := strings.TrimRight(string(b), " \t\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
