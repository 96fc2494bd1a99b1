// Package kratospage pages through the Kratos admin API's lists, which give the next page's
// token in a Link header.
package kratospage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	kratos "github.com/ory/kratos-client-go"
)

// Next reads the page_token of the Link header's rel="next" URL; "" on the last page.
func Next(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	for _, link := range resp.Header.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			if !strings.Contains(part, `rel="next"`) {
				continue
			}
			start, end := strings.Index(part, "<"), strings.Index(part, ">")
			if start < 0 || end <= start {
				continue
			}
			if u, err := url.Parse(part[start+1 : end]); err == nil {
				return u.Query().Get("page_token")
			}
		}
	}
	return ""
}

// Each fetches every page of an admin list (path with query) and hands each page's body to fn,
// which returns how many items it held; an empty page ends the list.
// The next page is requested as soon as a page's headers name it, so Kratos prepares it while
// fn decodes the current one: the generated client's models decode a page of a thousand
// identities in about as long as Kratos takes to serve it.
func Each(ctx context.Context, client *kratos.APIClient, path string, query url.Values, fn func(io.Reader) (int, error)) error {
	cfg := client.GetConfig()
	if len(cfg.Servers) == 0 {
		return errors.New("the Kratos client has no server")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	fetch := func(token string) (*http.Response, error) {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if token != "" {
			q.Set("page_token", token)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Servers[0].URL, "/")+path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
		}
		return resp, nil
	}
	type result struct {
		resp *http.Response
		err  error
	}
	resp, err := fetch("")
	for err == nil {
		token := Next(resp)
		var next chan result
		if token != "" {
			next = make(chan result, 1)
			go func() {
				r, err := fetch(token)
				next <- result{r, err}
			}()
		}
		var n int
		n, err = fn(resp.Body)
		resp.Body.Close()
		if next == nil || (err == nil && n == 0) {
			if next != nil {
				if r := <-next; r.resp != nil {
					r.resp.Body.Close()
				}
			}
			return err
		}
		r := <-next
		if err != nil {
			if r.resp != nil {
				r.resp.Body.Close()
			}
			return err
		}
		resp, err = r.resp, r.err
	}
	return err
}
