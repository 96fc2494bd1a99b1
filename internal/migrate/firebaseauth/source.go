package firebaseauth

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"firebase.google.com/go/v4/auth"
	"google.golang.org/api/iterator"
)

// Source yields Firebase users one at a time.
type Source interface {
	// Users calls fn for every user; an error from fn stops the walk.
	Users(ctx context.Context, fn func(User) error) error
	// Describe names the source for reports.
	Describe() string
}

// LiveSource reads a project through the Admin SDK, 1000 users a page (it honours
// FIREBASE_AUTH_EMULATOR_HOST).
type LiveSource struct {
	Client  *auth.Client
	Project string
}

func (s *LiveSource) Describe() string { return "project " + s.Project }

func (s *LiveSource) Users(ctx context.Context, fn func(User) error) error {
	it := s.Client.Users(ctx, "")
	for {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing users of %s: %w", s.Project, err)
		}
		u, err := fromRecord(r)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
	}
}

func fromRecord(r *auth.ExportedUserRecord) (User, error) {
	u := User{UID: r.UID, Email: r.Email, EmailVerified: r.EmailVerified, DisplayName: r.DisplayName,
		PhoneNumber: r.PhoneNumber, PhotoURL: r.PhotoURL, Disabled: r.Disabled, CustomClaims: r.CustomClaims,
		Origin: "uid " + r.UID}
	var err error
	if u.PasswordHash, err = decodeBase64(r.PasswordHash); err != nil {
		return u, fmt.Errorf("user %s: password hash: %w", r.UID, err)
	}
	if u.PasswordSalt, err = decodeBase64(r.PasswordSalt); err != nil {
		return u, fmt.Errorf("user %s: password salt: %w", r.UID, err)
	}
	if r.UserMetadata != nil {
		u.CreatedAt = msToTime(r.UserMetadata.CreationTimestamp)
		u.LastSignIn = msToTime(r.UserMetadata.LastLogInTimestamp)
	}
	for _, p := range r.ProviderUserInfo {
		if p.ProviderID == "password" || p.ProviderID == "phone" {
			continue
		}
		u.Providers = append(u.Providers, Provider{ProviderID: p.ProviderID, RawID: p.UID, Email: p.Email})
	}
	if r.MultiFactor != nil {
		for _, f := range r.MultiFactor.EnrolledFactors {
			u.MFA = append(u.MFA, strings.TrimSpace(f.FactorID+" "+f.PhoneNumber))
		}
	}
	return u, nil
}

// FileSource reads a `firebase auth:export` file, JSON or CSV (by extension, or Format).
type FileSource struct {
	Path   string
	Format string // "json" or "csv"; empty: from the extension
}

func (s *FileSource) Describe() string { return "file " + s.Path }

func (s *FileSource) Users(ctx context.Context, fn func(User) error) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.IsDir() {
		return fmt.Errorf("%s is a folder: give the file 'firebase auth:export' wrote", s.Path)
	}
	format := s.Format
	if format == "" {
		format = strings.TrimPrefix(strings.ToLower(filepath.Ext(s.Path)), ".")
	}
	read := map[string]func(io.Reader, string, func(User) error) error{"json": readJSON, "csv": readCSV}[format]
	if read == nil {
		return fmt.Errorf("%s: unknown export format %q: use a .json or .csv file from 'firebase auth:export'", s.Path, format)
	}
	users := 0
	err = read(f, filepath.Base(s.Path), func(u User) error { users++; return fn(u) })
	if errors.Is(err, errEmptyFile) || (err == nil && users == 0) {
		// An empty file and an export that lists nobody are the same mistake, said the same way.
		return fmt.Errorf("%s holds no users: is it the file 'firebase auth:export' wrote?", s.Path)
	}
	return err
}

// errEmptyFile is a file with nothing in it.
var errEmptyFile = errors.New("empty file")

// exportedUser is a user of an auth:export JSON file.
type exportedUser struct {
	LocalID          string `json:"localId"`
	Email            string `json:"email"`
	EmailVerified    bool   `json:"emailVerified"`
	PasswordHash     string `json:"passwordHash"`
	Salt             string `json:"salt"`
	DisplayName      string `json:"displayName"`
	PhotoURL         string `json:"photoUrl"`
	LastSignedInAt   string `json:"lastSignedInAt"`
	CreatedAt        string `json:"createdAt"`
	PhoneNumber      string `json:"phoneNumber"`
	Disabled         bool   `json:"disabled"`
	CustomAttributes string `json:"customAttributes"`
	MFAInfo          []struct {
		MFAEnrollmentID string `json:"mfaEnrollmentId"`
		PhoneInfo       string `json:"phoneInfo"`
		DisplayName     string `json:"displayName"`
	} `json:"mfaInfo"`
	ProviderUserInfo []struct {
		ProviderID string `json:"providerId"`
		RawID      string `json:"rawId"`
		Email      string `json:"email"`
	} `json:"providerUserInfo"`
}

// readJSON streams {"users": [...]}; errors name the user's position in the file.
func readJSON(r io.Reader, name string, fn func(User) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{', name); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if tok != "users" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		if err := expectDelim(dec, '[', name); err != nil {
			return err
		}
		for i := 1; dec.More(); i++ {
			var e exportedUser
			if err := dec.Decode(&e); err != nil {
				return fmt.Errorf("%s: user %d (byte %d): %w", name, i, dec.InputOffset(), err)
			}
			u, err := e.user(fmt.Sprintf("%s user %d", name, i))
			if err != nil {
				return err
			}
			if err := fn(u); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func expectDelim(dec *json.Decoder, d json.Delim, name string) error {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) && dec.InputOffset() == 0 {
		return errEmptyFile
	}
	if err != nil {
		return fmt.Errorf("%s: not an auth:export JSON file: %w", name, err)
	}
	if tok != d {
		return fmt.Errorf("%s: not an auth:export JSON file: expected %q at byte %d", name, d, dec.InputOffset())
	}
	return nil
}

func (e exportedUser) user(origin string) (User, error) {
	u := User{UID: e.LocalID, Email: e.Email, EmailVerified: e.EmailVerified, DisplayName: e.DisplayName,
		PhoneNumber: e.PhoneNumber, PhotoURL: e.PhotoURL, Disabled: e.Disabled, Origin: origin}
	var err error
	fail := func(field string, err error) (User, error) {
		return u, fmt.Errorf("%s (uid %s): field %s: %w", origin, e.LocalID, field, err)
	}
	if e.LocalID == "" {
		return u, fmt.Errorf("%s: field localId is empty", origin)
	}
	if u.PasswordHash, err = decodeBase64(e.PasswordHash); err != nil {
		return fail("passwordHash", err)
	}
	if u.PasswordSalt, err = decodeBase64(e.Salt); err != nil {
		return fail("salt", err)
	}
	if u.CreatedAt, err = millis(e.CreatedAt); err != nil {
		return fail("createdAt", err)
	}
	if u.LastSignIn, err = millis(e.LastSignedInAt); err != nil {
		return fail("lastSignedInAt", err)
	}
	if e.CustomAttributes != "" {
		if err := json.Unmarshal([]byte(e.CustomAttributes), &u.CustomClaims); err != nil {
			return fail("customAttributes", err)
		}
	}
	for _, p := range e.ProviderUserInfo {
		u.Providers = append(u.Providers, Provider{ProviderID: p.ProviderID, RawID: p.RawID, Email: p.Email})
	}
	for _, m := range e.MFAInfo {
		u.MFA = append(u.MFA, strings.TrimSpace("phone "+m.PhoneInfo))
	}
	return u, nil
}

// Column layout of auth:export CSV files: fixed columns, then four per federated provider
// (raw id, email, display name, photo URL) at the provider's position.
const (
	colUID, colEmail, colEmailVerified, colHash, colSalt, colName, colPhoto = 0, 1, 2, 3, 4, 5, 6
	colCreated, colLastSignIn, colPhone, colDisabled, colClaims             = 23, 24, 25, 26, 27
)

var csvProviderColumns = map[string]int{
	"google.com": 7, "facebook.com": 11, "twitter.com": 15, "github.com": 19, "apple.com": 28,
	"microsoft.com": 32, "gc.apple.com": 36, "playgames.google.com": 40, "linkedin.com": 44, "yahoo.com": 48,
}

func readCSV(r io.Reader, name string, fn func(User) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		u, err := csvUser(rec, fmt.Sprintf("%s line %d", name, line))
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
	}
}

func csvUser(rec []string, origin string) (User, error) {
	get := func(i int) string {
		if i < len(rec) {
			return rec[i]
		}
		return ""
	}
	u := User{UID: get(colUID), Email: get(colEmail), DisplayName: get(colName), PhotoURL: get(colPhoto),
		PhoneNumber: get(colPhone), Origin: origin}
	fail := func(field string, err error) (User, error) {
		return u, fmt.Errorf("%s (uid %s): field %s: %w", origin, u.UID, field, err)
	}
	if len(rec) < colPhone+1 {
		return u, fmt.Errorf("%s: %d fields, an auth:export CSV line has at least %d", origin, len(rec), colPhone+1)
	}
	if u.UID == "" {
		return u, fmt.Errorf("%s: field UID is empty", origin)
	}
	var err error
	if u.EmailVerified, err = parseBool(get(colEmailVerified)); err != nil {
		return fail("Email Verified", err)
	}
	if u.Disabled, err = parseBool(get(colDisabled)); err != nil {
		return fail("Disabled", err)
	}
	if u.PasswordHash, err = decodeBase64(get(colHash)); err != nil {
		return fail("Password Hash", err)
	}
	if u.PasswordSalt, err = decodeBase64(get(colSalt)); err != nil {
		return fail("Password Salt", err)
	}
	if u.CreatedAt, err = millis(get(colCreated)); err != nil {
		return fail("User Creation Time", err)
	}
	if u.LastSignIn, err = millis(get(colLastSignIn)); err != nil {
		return fail("Last Sign-In Time", err)
	}
	if c := get(colClaims); c != "" {
		if err := json.Unmarshal([]byte(c), &u.CustomClaims); err != nil {
			return fail("Custom Attributes", err)
		}
	}
	for id, col := range csvProviderColumns {
		if raw := get(col); raw != "" {
			u.Providers = append(u.Providers, Provider{ProviderID: id, RawID: raw, Email: get(col + 1)})
		}
	}
	sort.Slice(u.Providers, func(i, j int) bool { return u.Providers[i].ProviderID < u.Providers[j].ProviderID })
	return u, nil
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

func msToTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
