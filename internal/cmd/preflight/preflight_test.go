package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/preflight"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
)

func options(cfg func() (*rest.Config, error), profile string, set ...string) (*Options, *bytes.Buffer) {
	streams, _, out, _ := iostreams.Test()
	return &Options{
		IO: streams, Kube: kube.ForConfig(cfg()), Output: output.Table,
		Chart:     render.Options{Profile: profile, Namespace: "resimate", Set: append([]string{"global.domain=localhost"}, set...)},
		Preflight: preflight.Params{Profile: profile, Namespace: "resimate", Offline: true},
	}, out
}

func TestUnreachableAPIServerIsOneFatalLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	opts, out := options(func() (*rest.Config, error) {
		return &rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, nil
	}, "onprem")

	err = runPreflight(context.Background(), opts)
	assert.Equal(t, cmdutil.ExitFailure, cmdutil.ExitCode(err))
	text := out.String()
	assert.Equal(t, 1, strings.Count(text, "cannot reach the API server"), text)
	assert.Contains(t, text, fmt.Sprintf("✗ kube-api             cannot reach the API server at https://%s:", addr))
	// Every check that needs the cluster: 14 of the 20 for onprem.
	assert.Equal(t, 14, strings.Count(text, "skipped because kube-api failed"), text)
}

func TestJSONReportMatchesItsSchemaAndIgnoreWarns(t *testing.T) {
	e := testenv.Require(t, testenv.KubernetesBare)
	cfg := func() (*rest.Config, error) { return clientcmd.BuildConfigFromFlags("", e.KubeconfigBare) }
	opts, out := options(cfg, "local", "apis.campaigns.enabled=false")
	opts.Output = output.JSON
	opts.Preflight.Ignore = []string{"storage-class"}
	err := runPreflight(context.Background(), opts)
	require.Error(t, err, "the bare cluster has no nodes: preflight fails")

	schemaFile, err := os.Open("../../../docs/preflight.schema.json")
	require.NoError(t, err)
	defer schemaFile.Close()
	doc, err := jsonschema.UnmarshalJSON(schemaFile)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("preflight.schema.json", doc))
	schema, err := c.Compile("preflight.schema.json")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out.Bytes()))
	require.NoError(t, err)
	require.NoError(t, schema.Validate(inst))

	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct {
			ID, Status, Message string
			Ignored             bool
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	assert.False(t, rep.OK)
	var storage []int
	for i, c := range rep.Checks {
		if c.ID == "storage-class" {
			storage = append(storage, i)
		}
	}
	require.Len(t, storage, 1, "the report has the storage-class check once")
	check := rep.Checks[storage[0]]
	assert.Equal(t, "warn", check.Status)
	assert.True(t, check.Ignored)
	assert.Equal(t, "no default StorageClass; the cluster has: none (ignored: --ignore-checks storage-class)", check.Message)
}

func TestPostgresPasswordNeverPrinted(t *testing.T) {
	opts, out := options(func() (*rest.Config, error) { return nil, fmt.Errorf("no cluster here") }, "aws",
		"postgres.external.host=127.0.0.1", "postgres.external.port=1")
	opts.Preflight.PostgresURL = "postgres://admin:sup3r-s3cret@127.0.0.1:1/postgres"
	_ = runPreflight(context.Background(), opts)
	assert.NotContains(t, out.String(), "sup3r-s3cret")
	assert.Contains(t, out.String(), "cannot reach PostgreSQL at 127.0.0.1:1")
}
