package pagerdutyapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/PagerDuty/go-pagerduty"
)

// RESTOptions configure FindRoutingKey.
type RESTOptions struct {
	APIURL     string // REST API base, https://api.pagerduty.com
	Token      string // a REST API key; read-only is enough
	HTTPClient *http.Client
}

// maxServicePages bounds FindRoutingKey's walk: the REST API pages at most 10,000 records.
const maxServicePages = 100

// FindRoutingKey looks an Events API v2 routing key up among the account's services through the
// REST API (GET /services?include[]=integrations, every page), which the Events API can't do: it
// accepts any well-formed key. It returns the service and integration the key belongs to, or an
// error: the REST API's own (a rejected key is a 401 pagerduty.APIError), or one saying that no
// integration has the key.
func FindRoutingKey(ctx context.Context, opts RESTOptions, key string) (string, error) {
	c := pagerduty.NewClient(opts.Token, pagerduty.WithAPIEndpoint(opts.APIURL))
	if opts.HTTPClient != nil {
		c.HTTPClient = opts.HTTPClient
	}
	const limit = 100
	for page := uint(0); page < maxServicePages; page++ {
		resp, err := c.ListServicesWithContext(ctx, pagerduty.ListServiceOptions{Limit: limit, Offset: page * limit, Includes: []string{"integrations"}})
		if err != nil {
			return "", fmt.Errorf("pagerduty list services: %w", err)
		}
		for _, s := range resp.Services {
			for _, in := range s.Integrations {
				if in.IntegrationKey == key {
					return fmt.Sprintf("service %q (%s), integration %q", s.Name, s.ID, in.Name), nil
				}
			}
		}
		if !resp.More {
			break
		}
	}
	return "", fmt.Errorf("no integration of the PagerDuty account's services has this routing key")
}
