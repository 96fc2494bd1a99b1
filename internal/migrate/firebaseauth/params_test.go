package firebaseauth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
)

const signerKey = "YWR2LXNpZ25lci1rZXktb2YtdGhlLXRlc3Q=" // "adv-signer-key-of-the-test"

func hashConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "hash.txt")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// The forms the docs imply all read the same: the console's block, YAML with single or double
// quotes or none, JSON.
func TestHashConfigForms(t *testing.T) {
	for name, body := range map[string]string{
		"console":      "hash_config {\n  algorithm: SCRYPT,\n  base64_signer_key: " + signerKey + ",\n  base64_salt_separator: Bw==,\n  rounds: 8,\n  mem_cost: 14,\n}\n",
		"yaml":         "base64_signer_key: " + signerKey + "\nbase64_salt_separator: Bw==\nrounds: 8\nmem_cost: 14\n",
		"yaml, single": "base64_signer_key: '" + signerKey + "'\nbase64_salt_separator: 'Bw=='\nrounds: 8\nmem_cost: 14\n",
		"yaml, double": "base64_signer_key: \"" + signerKey + "\"\nbase64_salt_separator: \"Bw==\"\nrounds: 8\nmem_cost: 14\n",
		"json":         `{"base64_signer_key": "` + signerKey + `", "base64_salt_separator": "Bw==", "rounds": 8, "mem_cost": 14}`,
	} {
		p, err := fa.ParseHashConfig(hashConfig(t, body))
		require.NoError(t, err, name)
		assert.Equal(t, "adv-signer-key-of-the-test", string(p.SignerKey), name)
		assert.Equal(t, []byte{7}, p.SaltSeparator, name)
		assert.Equal(t, 8, p.Rounds, name)
		assert.Equal(t, 14, p.MemCost, name)
	}
}

// A bad parameter is named; no part of the secret is in the message.
func TestHashConfigErrorsNameTheFieldNotTheSecret(t *testing.T) {
	_, err := fa.ParseHashConfig(hashConfig(t, "base64_signer_key: YWR2LXNpZ25lci1rZXk!!\nbase64_salt_separator: Bw==\nrounds: 8\nmem_cost: 14\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "signer key: not base64")
	assert.NotContains(t, err.Error(), "YWR2")

	_, err = fa.ParseHashConfig(hashConfig(t, "base64_signer_key: "+signerKey+"\nbase64_salt_separator: Bw==\nrounds: abc\nmem_cost: 14\n"))
	assert.ErrorContains(t, err, `rounds: "abc" is not a whole number`)
}
