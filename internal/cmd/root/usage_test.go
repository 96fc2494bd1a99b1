package root_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/cmdutil"
)

// One rule for every command: a mistake in what the user typed is exit 2 with one line that
// says what is wrong, found before anything is read from a cluster or a database.
func TestUsageErrorsExitTwoEverywhere(t *testing.T) {
	dir := isolateConfig(t)
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(100<<20)) // 100 MB, sparse: costs no disk
	f.Close()
	export := filepath.Join(dir, "users.json")
	require.NoError(t, os.WriteFile(export, []byte(`{"users":[]}`), 0o600))
	hash := filepath.Join(dir, "hash.txt")
	require.NoError(t, os.WriteFile(hash, []byte("base64_signer_key: YWJjZGVmZ2hpamts\nbase64_salt_separator: Bw==\nrounds: 8\nmem_cost: 14\n"), 0o600))

	for _, c := range []struct{ args, want string }{
		{"render --profile local --set frontend.bogus=1", "additional properties 'bogus' not allowed"},
		{"render --profile local --release Bad_Name", `invalid release name "Bad_Name"`},
		{"render --profile local --kube-version banana", `invalid kube version "banana"`},
		{"render --profile local --set =bar", `"=bar": "" is not a key`},
		{"render --profile local --set a[0=x", `"a[0=x": "a[0" is not a key`},
		{"render --profile local -f " + huge, "more than the 4 MiB any values file needs"},
		{"render --profile local -n Bad_NS!", `invalid namespace "Bad_NS!"`},
		{"preflight --profile local -n Bad_NS!", `invalid namespace "Bad_NS!"`},
		{"install --profile local -n Bad_NS!", `invalid namespace "Bad_NS!"`},
		{"status -n Bad_NS!", `invalid namespace "Bad_NS!"`},
		{"install --profile local --ignore-checks nosuch", `--ignore-checks: unknown check "nosuch"`},
		{"install --profile local --timeout 0", `invalid argument "0" for "--timeout" flag: must be positive`},
		{"upgrade apply --profile local --timeout -1m", `must be positive`},
		{"rollback --timeout 0", `must be positive`},
		{"uninstall --timeout 0", `must be positive`},
		{"rollback zero", `revision must be a positive number`},
		{"migrate firebase firestore --schema-only --batch-size 0", `invalid argument "0" for "--batch-size" flag: must be at least 1`},
		{"migrate firebase firestore --schema-only --batch-size -5", `must be at least 1`},
		{"migrate firebase auth --from-file " + export + " --batch-size 0", `must be at least 1`},
		{"migrate firebase auth --from-file " + export + " --hash-config " + hash + " --hash-key YWJjZGVmZ2hpamts", "give the hash parameters once"},
		{"migrate firebase auth --from-file " + export + " --hash-config " + hash + " --kratos-admin-url http://127.0.0.1:1 --ledger-url postgres://127.0.0.1:1/x", "the hash parameters must be proven before anything is written"},
		{"migrate firebase firestore --schema-only --tenant=", "--tenant is empty"},
		{"migrate firebase firestore --schema-only --tenant=adv'q", `tenant "adv'q": use lower-case letters, digits and _`},
		{"completion tcsh", `unknown shell "tcsh": use bash, fish, powershell, zsh`},
	} {
		r := run(t, strings.Fields(c.args)...)
		assert.Equal(t, cmdutil.ExitUsage, r.code, "%s: %s", c.args, r.err)
		assert.Contains(t, r.err, c.want, c.args)
		assert.Regexp(t, `^(warning: [^\n]+\n)*Error: [^\n]+\n$`, r.err, c.args)
	}
}
