package pagerdutyapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/pagerdutyapi"
)

// TestFindRoutingKey runs against the fake REST API: a key on the third page of services is found,
// an unknown one is not, and a wrong REST key is the API's 401.
func TestFindRoutingKey(t *testing.T) {
	pd := fakepagerduty.New()
	defer pd.Close()
	pd.SetRESTToken("rest-key")
	var last string
	for i := range 250 {
		last = fmt.Sprintf("%032d", i)
		pd.AddRoutingKey(last)
	}
	opts := pagerdutyapi.RESTOptions{APIURL: pd.URL(), Token: "rest-key", HTTPClient: http.DefaultClient}
	ctx := context.Background()

	found, err := pagerdutyapi.FindRoutingKey(ctx, opts, last)
	if err != nil || !strings.Contains(found, `service "Service 250" (PSVC250)`) {
		t.Errorf("FindRoutingKey(the last key) = %q, %v", found, err)
	}
	if _, err := pagerdutyapi.FindRoutingKey(ctx, opts, strings.Repeat("f", 32)); err == nil || !strings.Contains(err.Error(), "no integration") {
		t.Errorf("an unknown key: %v", err)
	}
	opts.Token = "wrong"
	_, err = pagerdutyapi.FindRoutingKey(ctx, opts, last)
	var apiErr pagerduty.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong REST key: %v, want a 401 APIError", err)
	}
}
