package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Seal says how the bundled Vault unseals: Shamir key shares held by operators, or a seal
// stanza in vault.hcl (a cloud KMS, or the transit engine of another Vault) with recovery keys.
type Seal struct {
	// Type is shamir, or the seal stanza's type.
	Type      string
	Shares    int
	Threshold int
}

// Auto reports whether Vault unseals itself.
func (s Seal) Auto() bool { return s.Type != "" && s.Type != "shamir" }

// Bootstrap takes the bundled Vault from uninitialised to unsealed, once; a rerun finds it so
// and does nothing, or finishes what a killed run left.
type Bootstrap struct {
	Target
	Seal Seal
	// KeysFile is where the encrypted keys go after init, and where a rerun reads them.
	KeysFile   string
	Recipients []age.Recipient
	// Identities decrypt KeysFile when a rerun needs the keys (nil: none given).
	Identities []age.Identity
	// Secret is called with every secret value as soon as it is known (the redactor).
	Secret   func(...string)
	Progress func(string)
}

func (b *Bootstrap) say(format string, args ...any) {
	if b.Progress != nil {
		b.Progress(fmt.Sprintf(format, args...))
	}
}

// Unsealed is the outcome of Run: every pod unsealed and in the Raft cluster, and the keys when
// this run had them (a fresh init, or a rerun given the identity), for configuring.
type Unsealed struct {
	Conns []*Conn
	Keys  *Keys
}

// Close ends the port-forwards.
func (u *Unsealed) Close() { closeAll(u.Conns) }

// Run initialises Vault when no pod is, writes the keys, and unseals every pod.
func (b *Bootstrap) Run(ctx context.Context) (*Unsealed, error) {
	conns, err := b.ConnectAll(ctx, b.Progress)
	if err != nil {
		return nil, err
	}
	out := &Unsealed{Conns: conns}
	if err := b.run(ctx, out); err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

func (b *Bootstrap) run(ctx context.Context, out *Unsealed) error {
	statuses := make([]PodStatus, len(out.Conns))
	initialised := false
	for i, c := range out.Conns {
		st, err := answering(ctx, c)
		if err != nil {
			return err
		}
		statuses[i] = st
		initialised = initialised || st.Initialized
	}
	if !initialised {
		keys, err := b.initialise(ctx, out.Conns[0])
		if err != nil {
			return err
		}
		out.Keys = keys
	} else {
		keys, err := b.readKeys(statuses)
		if err != nil {
			return err
		}
		out.Keys = keys
	}
	return b.unsealAll(ctx, out)
}

// answering waits until a running pod's Vault answers (it may still be starting).
func answering(ctx context.Context, c *Conn) (PodStatus, error) {
	var st PodStatus
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		st = Status(ctx, c)
		return st.Error == "", nil
	})
	if err != nil {
		return st, fmt.Errorf("the Vault pod %s does not answer: %s", c.Pod, cmp.Or(st.Error, err.Error()))
	}
	return st, nil
}

// initialise runs sys/init on the first pod and writes the keys before anything else happens.
func (b *Bootstrap) initialise(ctx context.Context, c *Conn) (*Keys, error) {
	if len(b.Recipients) == 0 {
		return nil, errors.New("initialising Vault needs at least one --vault-recipient (an age or SSH public key): its unseal keys are encrypted to it")
	}
	if _, err := os.Stat(b.KeysFile); err == nil {
		return nil, fmt.Errorf("the bundled Vault is not initialised, but the key file %s already exists and may hold another Vault's keys: move it away or give another --vault-keys-file; nothing was changed", b.KeysFile)
	}
	// The keys exist once, in init's answer: the file must be writable before asking.
	probe, err := os.CreateTemp(filepath.Dir(b.KeysFile), ".vault-keys-probe-*")
	if err != nil {
		return nil, fmt.Errorf("the Vault key file cannot be written next to %s (%w): nothing was changed", b.KeysFile, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	req := &api.InitRequest{SecretShares: b.Seal.Shares, SecretThreshold: b.Seal.Threshold}
	if b.Seal.Auto() {
		req = &api.InitRequest{RecoveryShares: b.Seal.Shares, RecoveryThreshold: b.Seal.Threshold}
	}
	b.say("initialising Vault on %s (%s, %d key shares, threshold %d)", c.Pod, sealName(b.Seal), b.Seal.Shares, b.Seal.Threshold)
	resp, err := c.Client.Sys().InitWithContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("initialising Vault on %s: %w", c.Pod, err)
	}
	keys := &Keys{Namespace: b.Namespace, Vault: b.Name, Created: time.Now().UTC(), Seal: sealName(b.Seal),
		Threshold: b.Seal.Threshold, UnsealKeys: resp.KeysB64, RecoveryKeys: resp.RecoveryKeysB64, RootToken: resp.RootToken}
	if b.Secret != nil {
		b.Secret(keys.Secrets()...)
	}
	// Nothing else happens before the keys are on disk: a run killed now loses nothing.
	if err := WriteKeys(b.KeysFile, keys, b.Recipients); err != nil {
		return nil, fmt.Errorf("the bundled Vault was initialised but its keys could not be written (%w); they exist nowhere else: reset Vault's storage (delete its PVCs) and run install again", err)
	}
	b.say("Vault initialised: its keys are in %s, encrypted to %d recipient(s); keep that file safe", b.KeysFile, len(b.Recipients))
	return keys, nil
}

func sealName(s Seal) string {
	if s.Auto() {
		return s.Type
	}
	return "shamir"
}

// readKeys decrypts the key file of an initialised Vault. Without an identity it is not read:
// a Vault that needs nothing from the keys (all pods unsealed) carries on without them.
func (b *Bootstrap) readKeys(statuses []PodStatus) (*Keys, error) {
	needUnseal := false
	for _, s := range statuses {
		needUnseal = needUnseal || (s.Sealed && !b.Seal.Auto())
	}
	if _, err := os.Stat(b.KeysFile); err != nil && !needUnseal {
		return nil, nil // nothing needs the keys yet; configuring may, and says so
	} else if err != nil {
		return nil, fmt.Errorf("the bundled Vault is already initialised, but there is no key file at %s: it was initialised by someone else or the file was moved. Give the file that holds its keys with --vault-keys-file; nothing was changed", b.KeysFile)
	}
	if len(b.Identities) == 0 {
		if needUnseal {
			return nil, fmt.Errorf("the bundled Vault is initialised and sealed: give --vault-identity (the age or SSH private key of a recipient of %s) to unseal it", b.KeysFile)
		}
		return nil, nil
	}
	keys, err := ReadKeys(b.KeysFile, b.Identities)
	if err != nil {
		return nil, err
	}
	if b.Secret != nil {
		b.Secret(keys.Secrets()...)
	}
	return keys, nil
}

// unsealAll unseals the first pod, then each other pod, which joins the Raft cluster through
// its retry_join stanzas as it unseals; it waits until every pod is unsealed with a role.
func (b *Bootstrap) unsealAll(ctx context.Context, out *Unsealed) error {
	for _, c := range out.Conns {
		if err := b.unsealOne(ctx, c, out.Keys); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bootstrap) unsealOne(ctx context.Context, c *Conn, keys *Keys) error {
	var quorum []string
	if keys != nil && !b.Seal.Auto() {
		quorum = keys.Quorum()
	}
	err := unsealPod(ctx, c, quorum, b.Progress)
	if errors.Is(err, errWrongKeys) {
		return fmt.Errorf("the Vault pod %s stays sealed with the keys of %s: are they this Vault's keys?", c.Pod, b.KeysFile)
	}
	return err
}

var errWrongKeys = errors.New("the keys do not unseal it")

// resubmitAfter is how long a sealed pod that was given the keys may take to use them.
const resubmitAfter = 20 * time.Second

// unsealPod submits quorum to a sealed pod until it is unsealed and in the cluster (a pod still
// joining refuses keys until its leader answers). With no keys it only waits: an auto-unseal
// seal, or a standby finding its leader.
func unsealPod(ctx context.Context, c *Conn, quorum []string, progress func(string)) error {
	said := false
	var last PodStatus
	var submitted time.Time
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		last = Status(ctx, c)
		if last.Ready() {
			return true, nil
		}
		// A joining node works with the keys it was given for a while: give them again only
		// when it still waits for them after that.
		if last.Error != "" || !last.Sealed || len(quorum) == 0 || time.Since(submitted) < resubmitAfter {
			return false, nil
		}
		submitted = time.Now()
		if !said && progress != nil {
			progress(fmt.Sprintf("unsealing %s", c.Pod))
			said = true
		}
		for _, k := range quorum {
			st, err := c.Client.Sys().UnsealWithContext(ctx, k)
			if err != nil && last.Initialized && strings.Contains(err.Error(), "message authentication failed") {
				return false, errWrongKeys
			}
			if err != nil {
				return false, nil
			}
			if !st.Sealed {
				break
			}
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errWrongKeys):
		return err
	case last.Error != "":
		return fmt.Errorf("the Vault pod %s did not become unsealed: %s", c.Pod, last.Error)
	}
	return fmt.Errorf("the Vault pod %s did not become unsealed and join the cluster (initialised %t, sealed %t): %w", c.Pod, last.Initialized, last.Sealed, err)
}

// Unseal unseals every sealed pod of t with quorum, and returns every pod's state after.
func Unseal(ctx context.Context, t Target, quorum []string, progress func(string)) ([]PodStatus, error) {
	conns, err := t.ConnectAll(ctx, progress)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	out := make([]PodStatus, len(conns))
	for i, c := range conns {
		if st := Status(ctx, c); st.Sealed {
			if err := unsealPod(ctx, c, quorum, progress); err != nil {
				if errors.Is(err, errWrongKeys) {
					return nil, fmt.Errorf("the Vault pod %s stays sealed: the keys given are not this Vault's", c.Pod)
				}
				return nil, err
			}
		}
		out[i] = Status(ctx, c)
	}
	return out, nil
}
