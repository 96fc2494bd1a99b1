package kratospage_test

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	kratos "github.com/ory/kratos-client-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/kratospage"
	"github.com/resimate/resimatectl/internal/testenv"
)

// Each reads every page of a real Kratos list, two identities a page.
func TestEachPagesThroughKratos(t *testing.T) {
	admin := testenv.KratosAdmin(t)
	tag := testenv.UniqueName("page")
	for i := range 5 {
		id, _, err := admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(kratos.CreateIdentityBody{
			SchemaId: "user_v1", Traits: map[string]any{"email": tag + "-" + string(rune('a'+i)) + "@example.com"}}).Execute()
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = admin.IdentityAPI.DeleteIdentity(context.Background(), id.Id).Execute() })
	}
	pages, ours := 0, 0
	err := kratospage.Each(context.Background(), admin, "/admin/identities", url.Values{"page_size": {"2"}}, func(r io.Reader) (int, error) {
		var page []struct{ Traits map[string]string }
		if err := json.NewDecoder(r).Decode(&page); err != nil {
			return 0, err
		}
		pages++
		for _, p := range page {
			if strings.HasPrefix(p.Traits["email"], tag+"-") {
				ours++
			}
		}
		return len(page), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 5, ours, "every identity, once")
	assert.GreaterOrEqual(t, pages, 3)

	err = kratospage.Each(context.Background(), admin, "/admin/nothing-here", nil, func(io.Reader) (int, error) { return 0, nil })
	assert.ErrorContains(t, err, "404")
}
