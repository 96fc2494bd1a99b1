package upstream

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"

	"github.com/resimate/resimatectl/internal/errtext"
)

// Source says where the archives come from and which digests they must have.
type Source struct {
	// Dir is --charts-dir: a folder of <chart>-<version>.tgz (air-gapped sites). Empty: each
	// chart's pinned repository.
	Dir string
	// Digests is --charts-digests: a site's own vetted SHA-256 per archive file name, used instead
	// of the pins' published digests (for charts it repackaged).
	Digests map[string]string
	// DigestsFile names where Digests came from, for messages.
	DigestsFile string
}

// ReadDigests reads a sha256sum-style list ("<hex>  <file name>" per line, '#' comments).
func ReadDigests(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--charts-digests: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || !isSHA256(fields[0]) {
			return nil, fmt.Errorf("--charts-digests %s line %d: want \"<sha256 hex>  <file name>\", got %q", path, n, line)
		}
		out[filepath.Base(strings.TrimPrefix(fields[1], "*"))] = strings.ToLower(fields[0])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--charts-digests %s lists no archive", path)
	}
	return out, nil
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// ErrDigest marks an archive whose SHA-256 is not the one it must have.
var ErrDigest = errors.New("digest mismatch")

// Load finds the chart's archive, checks its SHA-256, and loads it. The errors say which chart,
// where it looked, and which digests disagree.
func (u Chart) Load(src Source) (*chart.Chart, error) {
	path, err := u.locate(src.Dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upstream chart %s %s: %w", u.Chart, u.Version, err)
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	want, from := u.Digest, "the digest pinned in charts/upstream.yaml"
	if src.Digests != nil {
		want, from = src.Digests[filepath.Base(path)], "the digest in "+src.DigestsFile
		if want == "" {
			return nil, fmt.Errorf("upstream chart %s %s: %w: %s lists no digest for %s; add the archive's vetted SHA-256 there",
				u.Chart, u.Version, ErrDigest, src.DigestsFile, filepath.Base(path))
		}
	}
	if got != want {
		return nil, fmt.Errorf("upstream chart %s %s: %w: %s has SHA-256 %s, not %s (%s); refusing it. A site that repackages charts passes its own list with --charts-digests",
			u.Chart, u.Version, ErrDigest, path, got, want, from)
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("upstream chart %s %s: %s: %w", u.Chart, u.Version, path, err)
	}
	if c.Metadata.Name != u.Chart || strings.TrimPrefix(c.Metadata.Version, "v") != strings.TrimPrefix(u.Version, "v") {
		return nil, fmt.Errorf("upstream chart %s %s: %s holds %s %s", u.Chart, u.Version, path, c.Metadata.Name, c.Metadata.Version)
	}
	return c, nil
}

// locate returns the archive's path: in dir under the chart's version with or without a "v"
// (repositories publish both spellings), else downloaded from the pinned repository into Helm's
// cache.
func (u Chart) locate(dir string) (string, error) {
	if dir != "" {
		bare := strings.TrimPrefix(u.Version, "v")
		var tried []string
		for _, v := range []string{u.Version, bare, "v" + bare} {
			p := filepath.Join(dir, fmt.Sprintf("%s-%s.tgz", u.Chart, v))
			if slices.Contains(tried, p) {
				continue
			}
			tried = append(tried, p)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("upstream chart %s %s: %w", u.Chart, u.Version, err)
			}
		}
		return "", fmt.Errorf("upstream chart %s %s not found: looked for %s (--charts-dir)", u.Chart, u.Version, strings.Join(tried, ", "))
	}
	opts := action.ChartPathOptions{RepoURL: u.Repository, Version: u.Version}
	p, err := opts.LocateChart(u.Chart, cli.New())
	if err != nil {
		return "", fmt.Errorf("upstream chart %s %s not found: looked in %s (%v); for an air-gapped site download it there and pass --charts-dir", u.Chart, u.Version, u.Repository, errtext.FirstLine(err))
	}
	return p, nil
}
