package handlers

import "context"

// askReason opens the "What happened?" modal for the answers that ask for the user's words.
func (r *Router) askReason(ctx context.Context, c Click, task AnswerTask) {}
