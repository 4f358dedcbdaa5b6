package bot

import (
	"fmt"

	"github.com/dispatch-oss/dispatch/duoauth"
	"github.com/dispatch-oss/dispatch/handlers"
)

// useDuo makes a Yes need a Duo push when Duo is configured (issue 19).
func (b *Bot) useDuo(cfg Config) error {
	if !cfg.Duo.Enabled() {
		return nil
	}
	duo, err := duoauth.New(duoauth.Config{Host: cfg.Duo.APIHost, IKey: cfg.Duo.IKey, SKey: cfg.Duo.SKey,
		CAPEM: cfg.Duo.CAPEM, UserAgent: "dispatch/" + Version})
	if err != nil {
		return fmt.Errorf("duo: %w", err)
	}
	for _, r := range handlers.MFAResults {
		b.metrics.MFA.WithLabelValues(string(r)) // every series from the start, at 0
	}
	b.router.UseSecondFactor(duo, b.slack, handlers.MFAConfig{
		Default: cfg.Duo.MFADefault, ReuseWindow: cfg.Duo.ReuseWindow, EmailLocal: cfg.Duo.EmailLocal,
		Observe: func(r handlers.MFAResult) { b.metrics.MFA.WithLabelValues(string(r)).Inc() },
	})
	b.log.Info().Str("duo", cfg.Duo.String()).Msg("a Yes needs a Duo push")
	return nil
}
