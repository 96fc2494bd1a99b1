package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/resimate/resimatectl/internal/cmd/root"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
)

func TestUsageErrors(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for args, want := range map[string]string{
		"preflight":                "--profile is required",
		"preflight --profile mars": `unknown profile "mars"`,
		"preflight --profile aws --ignore-checks nosuch": `--ignore-checks: unknown check "nosuch"`,
		"preflight --profile aws -o xml":                 `unknown output format "xml"`,
		"preflight --profile aws --set frontend.bogus=1": "additional properties 'bogus' not allowed",
	} {
		streams, _, _, errOut := iostreams.Test()
		code := root.Execute(context.Background(), cmdutil.NewFactory(streams), strings.Fields(args))
		assert.Equal(t, cmdutil.ExitUsage, code, args)
		assert.Contains(t, errOut.String(), want, args)
	}
}
