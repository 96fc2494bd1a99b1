package firebaseauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	kratos "github.com/ory/kratos-client-go"
	"github.com/resimate/resimatectl/internal/kratospage"
)

// MaxBatch is the most identities Kratos takes in one PATCH /admin/identities.
const MaxBatch = 2000

// Importer sends prepared identities to Kratos in batches, several in flight, and keeps the
// ledger.
type Importer struct {
	Admin       *kratos.APIClient
	Ledger      *Ledger
	BatchSize   int
	Concurrency int
	// Progress, when set, is called after every batch.
	Progress func(done, total int)
}

// Outcome of one user.
type Outcome struct {
	UID        string `json:"uid"`
	Email      string `json:"email,omitempty"`
	Outcome    string `json:"outcome"`
	IdentityID string `json:"identityId,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// patchNamespace makes patch ids from uids: the same user always gets the same patch id.
var patchNamespace = uuid.MustParse("0b9f3c52-6a39-4b8e-9a57-3f0c1d7e2a10")

func patchID(project, uid string) string {
	return uuid.NewSHA1(patchNamespace, []byte(project+"/"+uid)).String()
}

// Run imports what the ledger does not hold yet and returns every user's outcome this run
// (already imported users come back as "already").
func (im *Importer) Run(ctx context.Context, p *Prepared) ([]Outcome, error) {
	if err := im.Ledger.Init(ctx); err != nil {
		return nil, err
	}
	ledger, err := im.Ledger.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := im.recover(ctx, ledger); err != nil {
		return nil, err
	}
	var outcomes []Outcome
	var rejected []Entry
	for _, r := range p.Rejected {
		if e, ok := ledger[r.UID]; ok && (e.Outcome == OutcomeImported || e.Outcome == OutcomeExisting) {
			continue
		}
		rejected = append(rejected, Entry{UID: r.UID, Outcome: OutcomeRejected, Reason: r.Reason})
		outcomes = append(outcomes, Outcome{UID: r.UID, Email: r.Email, Outcome: OutcomeRejected, Reason: r.Reason})
	}
	if err := im.Ledger.Record(ctx, rejected); err != nil {
		return nil, err
	}
	var todo []string
	for _, uid := range p.Order {
		if e, ok := ledger[uid]; ok && (e.Outcome == OutcomeImported || e.Outcome == OutcomeExisting) {
			outcomes = append(outcomes, Outcome{UID: uid, Email: p.Users[uid].Email, Outcome: "already", IdentityID: e.IdentityID})
			continue
		}
		todo = append(todo, uid)
	}

	size := min(max(im.BatchSize, 1), MaxBatch)
	batches := make(chan []string)
	results := make(chan []Outcome)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range max(im.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				res, err := im.batch(ctx, p, b)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				results <- res
			}
		}()
	}
	go func() {
		defer close(batches)
		for i := 0; i < len(todo); i += size {
			select {
			case batches <- todo[i:min(i+size, len(todo))]:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	done := 0
	for res := range results {
		outcomes = append(outcomes, res...)
		done += len(res)
		if im.Progress != nil {
			im.Progress(done, len(todo))
		}
	}
	if firstErr != nil {
		return outcomes, firstErr
	}
	return outcomes, nil
}

// batch imports one batch: ledger in_flight, PATCH, ledger outcomes.
func (im *Importer) batch(ctx context.Context, p *Prepared, uids []string) ([]Outcome, error) {
	inFlight := make([]Entry, len(uids))
	for i, uid := range uids {
		inFlight[i] = Entry{UID: uid, Outcome: OutcomeInFlight}
	}
	if err := im.Ledger.Record(ctx, inFlight); err != nil {
		return nil, err
	}
	outcomes, err := im.patch(ctx, p, uids)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, len(outcomes))
	for i, o := range outcomes {
		entries[i] = Entry{UID: o.UID, IdentityID: o.IdentityID, Outcome: o.Outcome, Reason: o.Reason}
	}
	return outcomes, im.Ledger.Record(ctx, entries)
}

// patch sends uids in one request. Kratos answers most conflicts per item, but refuses a whole
// request with 409 for some (a federated login already taken): then the batch is halved until
// the conflicting user stands alone.
func (im *Importer) patch(ctx context.Context, p *Prepared, uids []string) ([]Outcome, error) {
	patches := make([]kratos.IdentityPatch, len(uids))
	byPatch := map[string]string{}
	for i, uid := range uids {
		id := patchID(im.Ledger.Project, uid)
		byPatch[id] = uid
		patches[i] = kratos.IdentityPatch{Create: p.Identities[uid], PatchId: &id}
	}
	resp, status, err := im.send(ctx, patches)
	if status == http.StatusConflict {
		if len(uids) > 1 {
			half := len(uids) / 2
			first, err := im.patch(ctx, p, uids[:half])
			if err != nil {
				return nil, err
			}
			second, err := im.patch(ctx, p, uids[half:])
			return append(first, second...), err
		}
		return []Outcome{im.conflict(ctx, uids[0], p.Users[uids[0]].Email)}, nil
	}
	if err != nil {
		return nil, err
	}
	var outcomes []Outcome
	answered := map[string]bool{}
	for _, r := range resp.Identities {
		uid := byPatch[r.GetPatchId()]
		if uid == "" {
			continue
		}
		answered[uid] = true
		email := p.Users[uid].Email
		switch code := errorCode(r.Error); {
		case r.Error == nil && r.GetIdentity() != "":
			outcomes = append(outcomes, Outcome{UID: uid, Email: email, Outcome: OutcomeImported, IdentityID: r.GetIdentity()})
		case code == http.StatusConflict:
			outcomes = append(outcomes, im.conflict(ctx, uid, email))
		default:
			outcomes = append(outcomes, Outcome{UID: uid, Email: email, Outcome: OutcomeFailed, Reason: fmt.Sprintf("Kratos refused it: %v", describeError(r.Error))})
		}
	}
	for _, uid := range uids {
		if !answered[uid] {
			outcomes = append(outcomes, Outcome{UID: uid, Email: p.Users[uid].Email, Outcome: OutcomeFailed, Reason: "Kratos did not answer for this user"})
		}
	}
	return outcomes, nil
}

// conflict settles a user Kratos says exists. Only an identity this migration created (its
// metadata_admin.firebase_uid is the user's uid: a rerun after a lost answer) is matched and
// recorded; an identity someone else made with the same address is never attached to the user,
// who is rejected with the reason.
func (im *Importer) conflict(ctx context.Context, uid, email string) Outcome {
	id, owner, err := im.lookup(ctx, email)
	switch {
	case err != nil:
		return Outcome{UID: uid, Email: email, Outcome: OutcomeFailed, Reason: fmt.Sprintf("conflicts with an existing Kratos identity, which could not be looked up: %v", err)}
	case id == "":
		return Outcome{UID: uid, Email: email, Outcome: OutcomeRejected,
			Reason: "conflicts with an existing Kratos identity (an identifier such as a federated login is taken) that has another email"}
	case owner != uid:
		return Outcome{UID: uid, Email: email, Outcome: OutcomeRejected,
			Reason: "an identity with this address exists that the migration did not create: nothing was attached; merge or remove it, then run again"}
	}
	return Outcome{UID: uid, Email: email, Outcome: OutcomeExisting, IdentityID: id}
}

// send PATCHes a batch, backing off on 429 and 5xx; it returns the final HTTP status.
func (im *Importer) send(ctx context.Context, patches []kratos.IdentityPatch) (*kratos.BatchPatchIdentitiesResponse, int, error) {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, httpResp, err := im.Admin.IdentityAPI.BatchPatchIdentities(ctx).
			PatchIdentitiesBody(kratos.PatchIdentitiesBody{Identities: patches}).Execute()
		status := 0
		if httpResp != nil {
			status = httpResp.StatusCode
		}
		if err == nil {
			return resp, status, nil
		}
		retry := httpResp == nil || status == http.StatusTooManyRequests || status >= 500
		if !retry || attempt == 8 || ctx.Err() != nil {
			return nil, status, fmt.Errorf("importing a batch of %d identities: %w%s", len(patches), err, bodyOf(err))
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, status, ctx.Err()
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// lookup finds an identity by its credentials identifier (the email) and the firebase_uid it
// carries ("" when none).
func (im *Importer) lookup(ctx context.Context, email string) (id, firebaseUID string, err error) {
	if email == "" {
		return "", "", nil
	}
	list, _, err := im.Admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
	if err != nil || len(list) == 0 {
		return "", "", err
	}
	return list[0].Id, firebaseUIDOf(list[0]), nil
}

// firebaseUIDOf is the firebase_uid of an identity's admin metadata, or "".
func firebaseUIDOf(id kratos.Identity) string {
	if m, ok := id.MetadataAdmin.(map[string]any); ok {
		uid, _ := m["firebase_uid"].(string)
		return uid
	}
	return ""
}

// recover settles users left in_flight by a killed run: those Kratos has (found by the
// firebase_uid every imported identity carries) are recorded, the others forgotten so they are
// sent again. It updates ledger, the caller's copy, to match.
func (im *Importer) recover(ctx context.Context, ledger map[string]Entry) error {
	pending := map[string]bool{}
	for uid, e := range ledger {
		if e.Outcome == OutcomeInFlight {
			pending[uid] = true
		}
	}
	if len(pending) == 0 {
		return nil
	}
	found, err := im.identitiesByUID(ctx)
	if err != nil {
		return fmt.Errorf("recovering an interrupted run: %w", err)
	}
	var settled []Entry
	var forget []string
	for uid := range pending {
		if id, ok := found[uid]; ok {
			settled = append(settled, Entry{UID: uid, IdentityID: id, Outcome: OutcomeImported})
		} else {
			forget = append(forget, uid)
		}
	}
	if err := im.Ledger.Record(ctx, settled); err != nil {
		return err
	}
	if err := im.Ledger.Forget(ctx, forget); err != nil {
		return err
	}
	for _, e := range settled {
		ledger[e.UID] = e
	}
	for _, uid := range forget {
		delete(ledger, uid)
	}
	return nil
}

// identitiesByUID pages through every identity and maps metadata_admin.firebase_uid to its id.
func (im *Importer) identitiesByUID(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	token := ""
	for {
		req := im.Admin.IdentityAPI.ListIdentities(ctx).PageSize(1000)
		if token != "" {
			req = req.PageToken(token)
		}
		list, resp, err := req.Execute()
		if err != nil {
			return nil, err
		}
		for _, id := range list {
			if uid := firebaseUIDOf(id); uid != "" {
				out[uid] = id.Id
			}
		}
		token = kratospage.Next(resp)
		if token == "" || len(list) == 0 {
			return out, nil
		}
	}
}

func errorCode(e any) int {
	m, ok := e.(map[string]any)
	if !ok {
		return 0
	}
	if c, ok := m["code"].(float64); ok {
		return int(c)
	}
	return 0
}

func describeError(e any) string {
	if m, ok := e.(map[string]any); ok {
		msg, _ := m["message"].(string)
		reason, _ := m["reason"].(string)
		if reason != "" {
			return msg + ": " + reason
		}
		return msg
	}
	return fmt.Sprint(e)
}

// bodyOf adds Kratos' explanation to a client error.
func bodyOf(err error) string {
	var apiErr *kratos.GenericOpenAPIError
	if errors.As(err, &apiErr) && len(apiErr.Body()) > 0 {
		b := string(apiErr.Body())
		if len(b) > 300 {
			b = b[:300] + "…"
		}
		return ": " + b
	}
	return ""
}
