package root_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
	"github.com/resimate/resimatectl/internal/testenv"
)

// Secrets with every character that an encoding changes go out through text, -o json,
// -o yaml, JSON logs and errors; no form of them may appear, raw or encoded.
func TestSecretsNeverAppearInAnyEncoding(t *testing.T) {
	isolateConfig(t)
	secrets := []string{`a&b"c<d>e\f%g'h`, "pass word with spaces", "pässwörd-ünïcödé-秘密", "tab\there\nnewline"}
	signerKey := []byte{0x8f, 0x1b, 0x29, 0xaf, 0xc2, 0x22, 0xd1, 0x16, 0x32, 0x71, 0x55, 0x3c, 0xcf, 0x29, 0x1d, 0xb4}
	for _, format := range []string{output.Table, output.JSON, output.YAML} {
		streams, _, out, errOut := iostreams.Test()
		f := cmdutil.NewFactory(streams)
		f.Redactor = &redact.Redactor{}
		streams.WrapOutput(f.Redactor.Writer)
		cmd := root.NewCmd(f)
		cmd.AddCommand(&cobra.Command{Use: "leak", RunE: func(c *cobra.Command, _ []string) error {
			f.Redactor.Register(secrets...)
			f.Redactor.RegisterBytes(signerKey)
			data := map[string]any{"secrets": secrets, "url": "postgres://u:" + url.QueryEscape(secrets[0]) + "@h/db",
				"signer": base64.StdEncoding.EncodeToString(signerKey), "urlsafe": base64.RawURLEncoding.EncodeToString([]byte(secrets[2]))}
			if err := output.Print(streams.Out, format, data, func(w io.Writer) error {
				for k, v := range data {
					fmt.Fprintf(w, "%s\t%v\n", k, v)
				}
				return nil
			}); err != nil {
				return err
			}
			f.Logger.Error("log line", "secrets", secrets, "signer", data["signer"])
			return errors.New("failed with " + strings.Join(secrets, " and ") + " " + data["url"].(string))
		}})
		cmd.SetArgs([]string{"leak", "--log-format", "json"})
		err := cmd.Execute()
		require.Error(t, err)
		root.PrintError(f, err)
		printed := out.String() + errOut.String()
		require.Contains(t, printed, "[REDACTED]")
		for _, s := range secrets {
			for _, form := range forms(s) {
				assert.NotContains(t, printed, form, "%s output shows %q (a form of %q)", format, form, s)
			}
		}
		assert.NotContains(t, printed, base64.StdEncoding.EncodeToString(signerKey))
	}
}

// forms are the encodings a secret's leak would take, computed here by hand so the test does
// not trust the redactor's own list.
func forms(s string) []string {
	escapedJSON := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`, "\n", `\n`).Replace(s)
	htmlJSON := strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`).Replace(escapedJSON)
	return []string{s, escapedJSON, htmlJSON, url.QueryEscape(s), url.PathEscape(s),
		base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
}

// A secret typed on the command line stays in ps and the shell's history: say so, once, and
// point at the environment form; a URL without a password is no secret.
func TestSecretOnTheCommandLineIsWarnedAbout(t *testing.T) {
	isolateConfig(t)
	r := run(t, "migrate", "firebase", "firestore", "--schema-only", "--database-url", "postgres://u:pw-on-argv@h/db")
	require.Equal(t, 0, r.code, r.err)
	assert.Equal(t, "warning: --database-url on the command line is kept by ps and the shell's history: use RESIMATE_DATABASE_URL instead\n", r.err)

	r = run(t, "migrate", "firebase", "firestore", "--schema-only", "--database-url", "postgres://u@h/db")
	assert.Empty(t, r.err)

	t.Setenv("RESIMATE_DATABASE_URL", "postgres://u:pw-in-env@h/db")
	r = run(t, "migrate", "firebase", "firestore", "--schema-only")
	assert.Empty(t, r.err, "the environment form is the quiet one")
}

// At --log-level debug the log shows which requests went to the API server, never what came
// back: a Secret the command reads (here one that looks like a Helm release) appears in no
// form, in either log format.
func TestDebugLogHoldsNoAPIResponse(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	ns := testenv.Namespace(t, nil)
	const canary = "zq9-canary-value-7vw"
	_, err := testenv.Clientset(t).CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.resimate.v1", Labels: map[string]string{"owner": "helm", "name": "resimate"}},
		Data:       map[string][]byte{"release": []byte(canary)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, format := range []string{"text", "json"} {
		r := testenv.Run(t, e.Kubeconfig, nil, "status", "-n", ns, "--log-level", "debug", "--log-format", format)
		printed := r.Stdout + r.Stderr
		require.Contains(t, printed, "getting release history", "the debug log is on")
		assert.NotContains(t, printed, "Response Body", format)
		for _, form := range append(forms(canary), hex.EncodeToString([]byte(canary)), canary[:8]) {
			assert.NotContains(t, printed, form, "%s log shows %q", format, form)
		}
	}
}
