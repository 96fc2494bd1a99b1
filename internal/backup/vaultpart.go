package backup

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Vault is the platform's Vault, reached with a token allowed to take and install Raft
// snapshots (sys/storage/raft/snapshot, which needs sudo).
type Vault struct {
	Client *api.Client
}

// Dump streams a Raft snapshot; the API client reports a snapshot cut off before its sealed
// checksums, which fails the part.
func (v Vault) Dump(ctx context.Context, w io.Writer) (Facts, error) {
	health, err := v.Client.Sys().HealthWithContext(ctx)
	if err != nil {
		return Facts{}, fmt.Errorf("vault: %w", err)
	}
	if err := v.Client.Sys().RaftSnapshotWithContext(ctx, w); err != nil {
		return Facts{}, fmt.Errorf("vault raft snapshot: %w", err)
	}
	return Facts{Server: "Vault " + health.Version}, nil
}

// Restore installs a snapshot. The snapshot's data is encrypted by its cluster's keys: Vault
// stays usable only with the unseal keys of the cluster the snapshot came from, and force is for
// installing it into another cluster (the keys then change to the snapshot's).
//
// The request body is streamed with the client's own transport: the API client's retrying
// request would read the whole snapshot into memory first.
func (v Vault) Restore(ctx context.Context, r io.Reader, force bool) error {
	path := "/v1/sys/storage/raft/snapshot"
	if force {
		path += "-force"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(v.Client.Address(), "/")+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.Client.Token())
	resp, err := v.Client.CloneConfig().HttpClient.Do(req)
	if err != nil {
		return fmt.Errorf("vault snapshot restore: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("vault snapshot restore: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
