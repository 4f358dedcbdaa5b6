package fakegithub

import (
	"net/http"
	"slices"
	"strconv"
)

// handleDeleteComment deletes an issue comment (DELETE /repos/{o}/{r}/issues/comments/{id}),
// answering 204. As on github.com for a repository's writers, only the comment's author may (a
// maintainer too, which the fake does not model): anyone else is refused with 403.
func (s *Server) handleDeleteComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.lookupRepoLocked(w, r)
	if rp == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("comment_id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	for _, is := range rp.issues {
		i := slices.IndexFunc(is.Comments, func(c Comment) bool { return c.ID == id })
		if i < 0 {
			continue
		}
		if is.Comments[i].Author != tokenFrom(r.Context()).login {
			writeError(w, http.StatusForbidden, "Must have admin rights to Repository.")
			return
		}
		is.Comments = slices.Delete(is.Comments, i, i+1)
		is.UpdatedAt = s.now()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeError(w, http.StatusNotFound, "Not Found")
}
