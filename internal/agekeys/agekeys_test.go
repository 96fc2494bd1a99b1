package agekeys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/resimate/resimatectl/internal/agekeys"
)

// A file encrypted to an age key and an SSH key opens with either identity, and with no other.
func TestEncryptToAgeAndSSHRecipients(t *testing.T) {
	dir := t.TempDir()
	ageID, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	ageFile := filepath.Join(dir, "age.txt")
	require.NoError(t, os.WriteFile(ageFile, []byte(ageID.String()+"\n"), 0o600))

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	sshFile := filepath.Join(dir, "id_ed25519")
	require.NoError(t, os.WriteFile(sshFile, pem.EncodeToMemory(block), 0o600))

	// A recipients file: comments and blank lines are skipped.
	recipientsFile := filepath.Join(dir, "recipients.txt")
	require.NoError(t, os.WriteFile(recipientsFile, []byte("# the SRE team\n\n"+string(ssh.MarshalAuthorizedKey(sshPub))), 0o600))
	rs, err := agekeys.ParseRecipients([]string{ageID.Recipient().String(), recipientsFile})
	require.NoError(t, err)
	require.Len(t, rs, 2)

	var sealed bytes.Buffer
	w, err := agekeys.Encrypt(&sealed, rs)
	require.NoError(t, err)
	_, err = w.Write([]byte("unseal key"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.Contains(t, sealed.String(), "-----BEGIN AGE ENCRYPTED FILE-----")

	for _, idFile := range []string{ageFile, sshFile} {
		ids, err := agekeys.ReadIdentities(idFile)
		require.NoError(t, err)
		r, err := agekeys.Decrypt(bytes.NewReader(sealed.Bytes()), ids)
		require.NoError(t, err, idFile)
		plain, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, "unseal key", string(plain))
	}

	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	_, err = agekeys.Decrypt(bytes.NewReader(sealed.Bytes()), []age.Identity{other})
	assert.ErrorContains(t, err, "none of the given identities can decrypt it")
}

func TestBadRecipientsAndIdentities(t *testing.T) {
	for _, bad := range []string{"age1notakey", "ssh-ed25519 AAAA", "/no/such/file"} {
		_, err := agekeys.ParseRecipients([]string{bad})
		assert.Error(t, err, bad)
	}
	_, err := agekeys.Encrypt(io.Discard, nil)
	assert.ErrorContains(t, err, "no recipient")

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	require.NoError(t, err)
	locked := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(locked, pem.EncodeToMemory(block), 0o600))
	_, err = agekeys.ReadIdentities(locked)
	assert.ErrorContains(t, err, "passphrase-protected SSH key")
}

// A private key where a public one belongs is named by its kind; no part of it is repeated,
// whether it is given as the flag's value or in a file.
func TestPrivateKeyGivenAsRecipientIsNeverPrinted(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	sshKey := string(pem.EncodeToMemory(block))
	dir := t.TempDir()
	for name, secret := range map[string]string{"age": id.String(), "ssh": sshKey} {
		file := filepath.Join(dir, name+".txt")
		require.NoError(t, os.WriteFile(file, []byte("# mine\n"+secret+"\n"), 0o600))
		for _, given := range []string{file, strings.TrimSpace(secret)} {
			_, err := agekeys.ParseRecipients([]string{given})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "private key", name)
			for _, line := range strings.Split(strings.TrimSpace(secret), "\n") {
				if body := strings.Trim(line, "-"); len(body) > 8 && !strings.Contains(body, "PRIVATE KEY") {
					assert.NotContains(t, err.Error(), body[:8], "%s: the error repeats the key", name)
				}
			}
			assert.NotContains(t, err.Error(), "AGE-SECRET-KEY-1")
		}
	}
}
