// Package kratospage pages through the Kratos admin API's lists, which give the next page's
// token in a Link header.
package kratospage

import (
	"net/http"
	"net/url"
	"strings"
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
