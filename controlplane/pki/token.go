package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnsureToken returns the token stored in path, or creates path (mode 0600)
// holding a new random token of 32 bytes in hex if it does not exist or is
// empty.
func EnsureToken(path string) (string, error) {
	data, err := readOptional(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	if token := string(bytes.TrimSpace(data)); token != "" {
		return token, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	token := hex.EncodeToString(secret)
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return "", fmt.Errorf("create token directory: %w", err)
	}
	if err := writeFileAtomic(path, []byte(token+"\n"), keyMode); err != nil {
		return "", err
	}
	return token, nil
}

// CAHash returns the hex SHA-256 of the DER form of the first certificate
// in caPEM. Join tokens carry it (SKF<hash>::<secret>) so that a joining
// node can check the CA a server presents before sending it credentials.
func CAHash(caPEM []byte) (string, error) {
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return "", errors.New("CA hash: no CERTIFICATE block found")
		}
		if block.Type == "CERTIFICATE" {
			sum := sha256.Sum256(block.Bytes)
			return hex.EncodeToString(sum[:]), nil
		}
	}
}
