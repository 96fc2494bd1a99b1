package firebaseauth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Canary is a known account whose password proves the hash parameters before anything is
// written.
type Canary struct {
	Email, Password string
}

// ParseCanary reads "email:password".
func ParseCanary(s string) (Canary, error) {
	email, pw, ok := strings.Cut(s, ":")
	if !ok || email == "" || pw == "" {
		return Canary{}, fmt.Errorf("--canary takes email:password, not %q", redactCanary(s))
	}
	if n := len(pw); n > MaxKratosPassword {
		return Canary{}, fmt.Errorf("the canary password of %s is %d bytes long: Kratos refuses passwords longer than %d bytes at sign-in, so it cannot prove the hash parameters; use an account with a shorter password", email, n, MaxKratosPassword)
	}
	return Canary{Email: email, Password: pw}, nil
}

// MaxKratosPassword is the longest password, in bytes of UTF-8, that Kratos accepts at sign-in
// (bcrypt's limit; v1.3.1 says "The password must be at most 72 characters long" but counts
// bytes). Firebase accepts longer ones.
const MaxKratosPassword = 72

// LongPasswordNote is the report's note for users with passwords: the hash cannot say how long a
// password is, so every such user is told alike.
var LongPasswordNote = fmt.Sprintf("Kratos refuses passwords longer than %d bytes at sign-in (72 plain ASCII characters, fewer with accents or other scripts): users whose Firebase password is longer must reset it after the migration", MaxKratosPassword)

func redactCanary(s string) string {
	if email, _, ok := strings.Cut(s, ":"); ok {
		return email + ":…"
	}
	return "…"
}

// Report is the outcome of a run (`-o json` prints it).
type Report struct {
	Source     string         `json:"source"`
	Project    string         `json:"project"`
	DryRun     bool           `json:"dryRun"`
	Totals     map[string]int `json:"totals"`
	Problems   []Outcome      `json:"problems"`
	MFA        []Rejection    `json:"mfaNotCarriedOver"`
	Notes      []string       `json:"notes"`
	DurationMS int64          `json:"durationMs"`
	PerSecond  float64        `json:"identitiesPerSecond"`
}

// OK reports whether every user was imported or matched.
func (r *Report) OK() bool { return r.Totals[OutcomeRejected] == 0 && r.Totals[OutcomeFailed] == 0 }

// Run is one migration.
type Run struct {
	Source   Source
	Mapping  *Mapping
	Canaries []Canary
	DryRun   bool
	Importer *Importer // nil with DryRun
	Project  string
}

// Execute reads every user, validates and maps them, checks the canaries, and imports.
func (r *Run) Execute(ctx context.Context) (*Report, error) {
	start := time.Now()
	users, err := readUsers(ctx, r.Source)
	if err != nil {
		return nil, err
	}
	anyPassword := false
	for i := range users {
		anyPassword = anyPassword || users[i].HasPassword()
	}
	if anyPassword && r.Mapping.Hash == nil {
		return nil, fmt.Errorf("users have passwords: the project's password hash parameters are required (--hash-key, --salt-separator, --rounds, --mem-cost, or --hash-config)")
	}
	if err := checkCanaries(users, r.Mapping.Hash, r.Canaries); err != nil {
		return nil, err
	}
	prepared := r.Mapping.Prepare(users)
	rep := &Report{Source: r.Source.Describe(), Project: r.Project, DryRun: r.DryRun, MFA: prepared.MFA,
		Totals: map[string]int{"users": len(users)}, Notes: []string{}}
	if anyPassword {
		rep.Notes = append(rep.Notes, LongPasswordNote)
	}
	var outcomes []Outcome
	if r.DryRun {
		for _, rej := range prepared.Rejected {
			outcomes = append(outcomes, Outcome{UID: rej.UID, Email: rej.Email, Outcome: OutcomeRejected, Reason: rej.Origin + ": " + rej.Reason})
		}
		rep.Totals["importable"] = len(prepared.Order)
	} else {
		outcomes, err = r.Importer.Run(ctx, prepared)
		if err != nil {
			return nil, err
		}
	}
	for _, o := range outcomes {
		rep.Totals[o.Outcome]++
		if o.Outcome == OutcomeRejected || o.Outcome == OutcomeFailed {
			rep.Problems = append(rep.Problems, o)
		}
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].UID < rep.Problems[j].UID })
	if rep.Problems == nil {
		rep.Problems = []Outcome{}
	}
	if rep.MFA == nil {
		rep.MFA = []Rejection{}
	}
	d := time.Since(start)
	rep.DurationMS = d.Milliseconds()
	if n := rep.Totals[OutcomeImported] + rep.Totals[OutcomeExisting]; n > 0 && d > 0 {
		rep.PerSecond = float64(n) / d.Seconds()
	}
	return rep, nil
}

// readUsers reads the whole source and refuses one that lists a uid twice, naming every pair,
// before anything is written: which of the two is the user cannot be guessed, and importing
// either would lose the other.
func readUsers(ctx context.Context, src Source) ([]User, error) {
	var users []User
	first := map[string]string{} // uid -> origin of its first record
	var dups []error
	err := src.Users(ctx, func(u User) error {
		if origin, seen := first[u.UID]; seen {
			dups = append(dups, fmt.Errorf("%s and %s have the same uid %s", origin, u.Origin, u.UID))
			return nil
		}
		first[u.UID] = u.Origin
		users = append(users, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("%s gives a uid to more than one user, and which record is right cannot be guessed; nothing was imported: fix the export and run again: %w",
			src.Describe(), errors.Join(dups...))
	}
	return users, nil
}

// checkCanaries verifies each canary's password against its stored hash with the given
// parameters: a wrong signer key or salt separator stops the run here, not after a million
// users can no longer sign in.
func checkCanaries(users []User, hash *HashParams, canaries []Canary) error {
	if len(canaries) == 0 {
		return nil
	}
	if hash == nil {
		return fmt.Errorf("--canary needs the password hash parameters")
	}
	byEmail := map[string]*User{}
	for i := range users {
		byEmail[strings.ToLower(users[i].Email)] = &users[i]
	}
	for _, c := range canaries {
		u := byEmail[strings.ToLower(c.Email)]
		switch {
		case u == nil:
			return fmt.Errorf("canary %s: no such user in the source", c.Email)
		case !u.HasPassword():
			return fmt.Errorf("canary %s: the user has no password", c.Email)
		}
		ok, err := hash.Verify(c.Password, u.PasswordSalt, u.PasswordHash)
		if err != nil {
			return fmt.Errorf("canary %s: %w", c.Email, err)
		}
		if !ok {
			return fmt.Errorf("canary %s: the password does not match its hash with these hash parameters: check the signer key, salt separator, rounds and memory cost; nothing was imported", c.Email)
		}
	}
	return nil
}
