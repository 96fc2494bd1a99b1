package database

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier is the SCRAM-SHA-256 verifier PostgreSQL stores for a password
// (RFC 5802/7677): sending it instead of the password keeps the password out of the server's
// statement log and out of pg_stat_activity.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	storedKey, serverKey, err := scramKeys(password, salt, scramIterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey), b64(serverKey)), nil
}

// scramMatches reports whether a stored verifier is password's; any other form (md5, none) is not.
func scramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	head, keys, _ := strings.Cut(rest, "$")
	iter, salt64, _ := strings.Cut(head, ":")
	stored64, _, _ := strings.Cut(keys, ":")
	iterations, err := strconv.Atoi(iter)
	salt, err1 := base64.StdEncoding.DecodeString(salt64)
	stored, err2 := base64.StdEncoding.DecodeString(stored64)
	if err != nil || err1 != nil || err2 != nil || iterations < 1 {
		return false
	}
	got, _, err := scramKeys(password, salt, iterations)
	return err == nil && hmac.Equal(got, stored)
}

// scramKeys derives the stored and server keys of RFC 5802 from a password.
func scramKeys(password string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	return stored[:], mac(salted, "Server Key"), nil
}
