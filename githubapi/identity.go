package githubapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Identity is the login dispatch writes as: the token's user (GET /user), or, for a GitHub App,
// its bot account "slug[bot]" (GET /app with the app's JWT: an installation token may not read
// /user). The first success is kept for the life of the Client; a failure is retried on the next
// call. Only issues and comments by this login count as dispatch's own state.
func (c *Client) Identity(ctx context.Context) (string, error) {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	if c.login != "" {
		return c.login, nil
	}
	var login string
	err := c.do(ctx, "identity", false, func(ctx context.Context) error {
		if c.app != nil {
			slug, err := c.app.Slug(ctx)
			login = slug + "[bot]"
			return err
		}
		u, _, err := c.gh.Users.Get(ctx, "")
		login = u.GetLogin()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("github identity: %w", err)
	}
	if login == "" || login == "[bot]" {
		return "", fmt.Errorf("github identity: GitHub returned no login")
	}
	c.login = login
	return login, nil
}

// Slug asks GitHub for the app's slug (GET /app, authenticated with the app's JWT). The app's bot
// account, which authors everything its installation tokens write, is "slug[bot]".
func (a *AppAuth) Slug(ctx context.Context) (string, error) {
	jwt, err := a.jwt(a.now())
	if err != nil {
		return "", fmt.Errorf("github app auth: sign the app JWT: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.baseURL+"app", http.NoBody)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("github app auth: get the app: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("github app auth: get the app: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", a.mintError(resp, body, jwt)
	}
	var app struct {
		Slug string `json:"slug"`
	}
	if err := json.Unmarshal(body, &app); err != nil || app.Slug == "" {
		return "", fmt.Errorf("github app auth: get the app: status %d without a slug", resp.StatusCode)
	}
	return app.Slug, nil
}
