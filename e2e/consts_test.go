package e2e

import "github.com/dispatch-oss/dispatch/fakes/stack"

// Short names for the stack's constants, used throughout the tests.
const (
	repo            = stack.Repo
	otherRepo       = stack.OtherRepo
	fallbackChannel = stack.FallbackChannel
	routingKey      = stack.RoutingKey
	serviceKey      = stack.ServiceKey
	githubToken     = stack.GitHubToken
	wait            = stack.Wait
)
