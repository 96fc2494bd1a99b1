package firebaseauth

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// hashConfigField is one "key: value" (or key = value) of a hash config, the key and the value
// each bare or in single or double quotes: the console's block, YAML and JSON all fit.
var hashConfigField = regexp.MustCompile(`["']?([a-z_0-9]+)["']?\s*[:=]\s*["']?([^"',\s}]+)["']?`)

// ParseHashConfig reads the password hash parameters from a file: either the block the Firebase
// console shows (hash_config { algorithm: SCRYPT, base64_signer_key: ..., ... }) or YAML/JSON
// with the same keys.
func ParseHashConfig(path string) (*HashParams, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, m := range hashConfigField.FindAllStringSubmatch(string(data), -1) {
		fields[m[1]] = m[2]
	}
	if a := fields["algorithm"]; a != "" && !strings.EqualFold(a, "SCRYPT") {
		return nil, fmt.Errorf("%s: algorithm %s: only Firebase's SCRYPT is supported", path, a)
	}
	var numbers [2]int
	for i, key := range []string{"rounds", "mem_cost"} {
		if numbers[i], err = strconv.Atoi(fields[key]); err != nil {
			return nil, fmt.Errorf("%s: %s: %q is not a whole number", path, key, fields[key])
		}
	}
	p, err := NewHashParams(fields["base64_signer_key"], fields["base64_salt_separator"], numbers[0], numbers[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// NewHashParams decodes and validates the parameters as the console gives them.
func NewHashParams(signerKey, saltSeparator string, rounds, memCost int) (*HashParams, error) {
	key, err := decodeBase64(signerKey)
	if err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	sep, err := decodeBase64(saltSeparator)
	if err != nil {
		return nil, fmt.Errorf("salt separator: %w", err)
	}
	p := &HashParams{SignerKey: key, SaltSeparator: sep, Rounds: rounds, MemCost: memCost}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
