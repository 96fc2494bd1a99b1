package wizard_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/wizard"
)

// terminal is a real pseudo-terminal: the wizard runs in a tmux session, keys are sent with
// send-keys, and the screen is read with capture-pane, as a person would see it.
type terminal struct {
	t       *testing.T
	session string
}

func startWizard(t *testing.T, args ...string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if testenv.InCI() {
			t.Fatal("tmux is needed for the wizard's terminal tests")
		}
		t.Skip("no tmux")
	}
	e := testenv.Require(t, testenv.Kubernetes)
	// What install's upstream charts would bring (they are skipped here), as the install tests do.
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	session := testenv.UniqueName("wizard")
	cmdline := fmt.Sprintf("XDG_CONFIG_HOME=%s KUBECONFIG=%s %s wizard %s; echo WIZARD-EXIT $?; sleep 600",
		t.TempDir(), e.Kubeconfig, testenv.Binary(t), strings.Join(args, " "))
	out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "60", cmdline).CombinedOutput()
	require.NoError(t, err, "%s", out)
	term := &terminal{t: t, session: session}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })
	return term
}

func (m *terminal) screen() string {
	out, err := exec.Command("tmux", "capture-pane", "-p", "-J", "-t", m.session, "-S", "-200").Output()
	require.NoError(m.t, err)
	return string(out)
}

// waitFor waits until the screen shows text, and returns the screen.
func (m *terminal) waitFor(text string, timeout time.Duration) string {
	m.t.Helper()
	return m.waitForAny(timeout, text)
}

// settle waits until the screen stops changing: a form draws, then focuses its first field and
// redraws, and keys sent before that are lost on a loaded machine (seen with two test packages
// running beside this one).
func (m *terminal) settle() {
	last := m.screen()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(400 * time.Millisecond)
		s := m.screen()
		if s == last {
			return
		}
		last = s
	}
}

// waitForAny waits until the screen shows one of texts, and returns the screen.
func (m *terminal) waitForAny(timeout time.Duration, texts ...string) string {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := m.screen()
		for _, text := range texts {
			if strings.Contains(s, text) {
				m.settle()
				return s
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the screen never showed any of %q; it shows:\n%s", texts, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// focused waits until the field titled label has the focus: the last block of lines carrying
// huh's focus bar starts with it. huh moves the focus in a command that runs after the keys already
// queued, so keys sent before this would reach the previous field on a loaded machine.
func (m *terminal) focused(label string) {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("tmux", "capture-pane", "-p", "-J", "-t", m.session).Output()
		require.NoError(m.t, err)
		if strings.HasPrefix(focusedTitle(string(out)), label) {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the field %q never had the focus; the screen shows:\n%s", label, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// focusedTitle is the first line of the screen's last block of focus-barred lines, bar removed.
func focusedTitle(screen string) string {
	lines := strings.Split(screen, "\n")
	title := ""
	for i, line := range lines {
		rest, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "┃")
		if !ok {
			continue
		}
		if i == 0 || !strings.HasPrefix(strings.TrimLeft(lines[i-1], " "), "┃") {
			title = strings.TrimSpace(rest)
		}
	}
	return title
}

// keys sends special keys (Enter, Up, C-u, ...); text sends literal text.
func (m *terminal) keys(keys ...string) {
	require.NoError(m.t, exec.Command("tmux", append([]string{"send-keys", "-t", m.session}, keys...)...).Run())
	time.Sleep(150 * time.Millisecond)
}

func (m *terminal) text(s string) {
	require.NoError(m.t, exec.Command("tmux", "send-keys", "-t", m.session, "-l", s).Run())
	m.keys("Enter")
}

// next accepts a step's navigation once its title shows.
func (m *terminal) next(title string) {
	m.waitFor(title, 30*time.Second)
	m.keys("Enter")
}

func recipient(t *testing.T) string {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id.Recipient().String()
}

// answerUpToClasses answers the first two steps: the test cluster's context, the local profile,
// namespace ns, domain localhost, an existing TLS Secret.
func (m *terminal) answerUpToClasses(ns string) {
	m.waitFor("Kubernetes context", 30*time.Second)
	m.keys("Enter")
	m.next("1/7 Cluster")
	m.waitFor("Kubernetes v1.", 30*time.Second)
	m.keys("Up", "Enter") // local, above onprem
	m.focused("Namespace")
	m.keys("C-u")
	m.text(ns)
	m.focused("Domain")
	m.text("localhost")
	m.focused("TLS certificate")
	m.keys("Down", "Down", "Enter") // an existing Secret
	m.waitFor("TLS Secret in the namespace", 10*time.Second)
	m.keys("Enter")
	m.next("2/7 Profile, domain and TLS")
}

// answerClasses takes the cluster's default StorageClass and its first IngressClass (nginx,
// typed, when it has none).
func (m *terminal) answerClasses() {
	s := m.waitFor("Storage class", 30*time.Second)
	m.keys("Enter")
	m.focused("Ingress class")
	if strings.Contains(s, "(the cluster has none yet)") {
		m.text("nginx")
	} else {
		m.keys("Enter")
	}
	m.next("3/7 Storage and ingress")
}

// answerToReview answers from the classes step to the review, with the given Vault choice;
// with rerun, the preflight checks run a second time before the wizard goes on.
func (m *terminal) answerToReview(rerun bool, vaultChoice func()) {
	m.answerClasses()
	m.waitFor("CloudNativePG in the cluster", 10*time.Second)
	m.keys("Enter")
	m.next("4/7 PostgreSQL")
	m.waitFor("Bundled: a 3-node Raft cluster", 10*time.Second)
	m.focused("Vault")
	vaultChoice()
	m.waitFor("SMTP server", 10*time.Second)
	m.keys("Enter", "Enter", "Enter", "Enter") // no SMTP, port, no monitoring, no logging
	m.next("5/7 Vault, e-mail, monitoring")
	m.waitFor("The checks run when you continue", 30*time.Second)
	m.keys("Enter")
	if rerun {
		m.waitFor("6/7 Preflight", 30*time.Second)
		m.keys("Down", "Enter")
		m.waitFor("checks passed", 60*time.Second)
		m.waitFor("┃ ✓ kube-api", 30*time.Second) // the report, on the step's own screen
		m.keys("Enter")
	}
	m.next("6/7 Preflight")
	m.waitFor("Save the values file as", 60*time.Second)
}

// The wizard refuses to start without a terminal and points to install -f.
func TestWizardNeedsATerminal(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	r := testenv.Run(t, e.Kubeconfig, nil, "wizard")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "the wizard needs a terminal")
	assert.Contains(t, r.Stderr, "resimatectl install --profile onprem -f values.yaml")
}

// A wizard left with Ctrl-C resumes at its step from the draft; --config-only then writes the
// values file, which renders exactly what the answers give, and removes the draft.
func TestWizardConfigOnlyResumes(t *testing.T) {
	dir := t.TempDir()
	draft, values := filepath.Join(dir, "draft.json"), filepath.Join(dir, "values.yaml")
	ns := testenv.UniqueName("wz")
	args := []string{"--config-only", "--draft", draft, "--values-file", values, "--offline", "--skip-upstream", "--ignore-checks", "smtp"}

	m := startWizard(t, args...)
	m.answerUpToClasses(ns)
	m.waitFor("Storage class", 30*time.Second)
	m.keys("C-c")
	m.waitFor("WIZARD-EXIT 130", 10*time.Second)
	var kept wizard.Answers
	b, err := os.ReadFile(draft)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &kept))
	assert.Equal(t, "classes", kept.Step, "the draft holds the step it was left at")
	assert.Equal(t, ns, kept.Namespace)
	st, err := os.Stat(draft)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	m = startWizard(t, args...)
	m.waitFor("Resuming from "+draft, 30*time.Second)
	key := recipient(t)
	m.answerToReview(true, func() {
		m.keys("Enter")
		m.focused("Unseal key shares")
		m.keys("C-u")
		m.text("1")
		m.focused("Key threshold")
		m.keys("C-u")
		m.text("1")
		m.focused("Recipients")
		m.text(key)
	})
	m.keys("Enter") // the values file's name, as given
	m.next("7/7 Review and save")
	s := m.waitFor("WIZARD-EXIT 0", 30*time.Second)
	assert.Contains(t, s, "Wrote "+values)
	assert.Contains(t, s, `--vault-recipient "`+key+`"`)
	_, err = os.Stat(draft)
	assert.True(t, os.IsNotExist(err), "the draft is removed once the wizard is done")
	written, err := os.ReadFile(values)
	require.NoError(t, err)
	assert.Contains(t, string(written), "domain: localhost")
	assert.Contains(t, string(written), "secretName: resimate-tls")
}

// The whole wizard installs to Ready; the same values file with install -f is then a no-op.
func TestWizardInstallsToReady(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	dir := t.TempDir()
	values := filepath.Join(dir, "values.yaml")
	ns := testenv.Namespace(t, nil)
	m := startWizard(t, "--draft", filepath.Join(dir, "draft.json"), "--values-file", values, "--offline", "--skip-upstream",
		"--ignore-checks", "smtp", "--timeout", "3m")
	m.answerUpToClasses(ns)
	m.answerToReview(false, func() { m.keys("Down", "Enter") }) // Vault initialised by its operators
	m.keys("Enter")
	m.next("7/7 Review and save")
	s := m.waitFor("WIZARD-EXIT", 4*time.Minute)
	require.Contains(t, s, "WIZARD-EXIT 0", s)
	assert.Contains(t, s, "every component Ready")
	assert.Contains(t, s, "resimatectl status -n "+ns)

	r := testenv.Run(t, e.Kubeconfig, nil, "install", "--profile", "local", "-n", ns, "-f", values, "--vault-init", "manual",
		"--offline", "--skip-upstream", "--ignore-checks", "smtp", "--timeout", "2m")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "already up to date", "install -f with the wizard's values changes nothing")
}

// An external PostgreSQL is tested in place by the postgres-external check: an unreachable
// server keeps the wizard on the step with the check's message, and the admin URL's password
// shows nowhere, neither on screen nor in the draft. An external Vault is tested in place by
// vault-external, trusting the CA file given.
func TestWizardTestsConnectionsInPlace(t *testing.T) {
	dir := t.TempDir()
	draft := filepath.Join(dir, "draft.json")
	m := startWizard(t, "--config-only", "--draft", draft, "--offline", "--skip-upstream")
	m.answerUpToClasses(testenv.UniqueName("wz"))
	m.answerClasses()
	m.waitFor("CloudNativePG in the cluster", 10*time.Second)
	m.keys("Down", "Enter")
	m.focused("Host")
	m.text("127.0.0.1")
	m.focused("Port")
	m.keys("C-u")
	m.text("1")
	m.focused("Admin URL")
	m.text("postgres://admin:s3cret-pw@127.0.0.1:1/postgres")
	m.next("4/7 PostgreSQL")
	s := m.waitFor("4/7 PostgreSQL: fix and try again", 60*time.Second)
	assert.Contains(t, s, "postgres-external")
	assert.Contains(t, s, "An external server (RDS", "the step is asked again")
	assert.NotContains(t, s, "s3cret-pw")
	b, err := os.ReadFile(draft)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "s3cret-pw")
	assert.Contains(t, string(b), `"step": "postgres"`)

	// The in-cluster operator instead, then a real external Vault with its own CA.
	v := testenv.StartStandaloneVault(t)
	v.Activate(t)
	ca := filepath.Join(dir, "vault-ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte(v.CA), 0o600))
	m.focused("PostgreSQL")
	m.keys("Up", "Enter")
	m.next("4/7 PostgreSQL")
	m.waitFor("Bundled: a 3-node Raft cluster", 30*time.Second)
	m.focused("Vault")
	m.keys("Down", "Down", "Enter")
	m.focused("Vault address")
	m.text(v.Address)
	m.focused("CA certificate file")
	m.text(ca)
	m.keys("Enter", "Enter", "Enter", "Enter") // no SMTP, port, no monitoring, no logging
	// The step's foot, then the check's outcome. On a loaded machine the foot's frame may be
	// redrawn away before it is read, so either on screen will do.
	const passed = "is initialised and unsealed"
	if s := m.waitForAny(60*time.Second, "5/7 Vault, e-mail, monitoring", passed); !strings.Contains(s, passed) {
		m.keys("Enter")
	}
	m.waitFor(passed, 60*time.Second)
}
