package firestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
)

// GroupCheck compares one collection group (documents by collection id) between source and target.
type GroupCheck struct {
	CollectionID   string `json:"collectionId"`
	SourceCount    int    `json:"sourceCount"`
	TargetCount    int    `json:"targetCount"`
	SourceChecksum string `json:"sourceChecksum"`
	TargetChecksum string `json:"targetChecksum"`
	Match          bool   `json:"match"`
}

// Difference is one document that is not the same on both sides.
type Difference struct {
	Path    string `json:"path"`
	Problem string `json:"problem"` // missing in PostgreSQL, not in the source, content differs
}

// VerifyReport is what `verify` prints.
type VerifyReport struct {
	Groups      []GroupCheck `json:"collections"`
	Differences []Difference `json:"differences"`
}

// Verify reads every document of the source and of the target tables, puts each into the
// canonical encoding (the target's rebuilt from its typed columns and data), and compares counts
// and checksums per collection group and document by document. Rejected documents are
// differences too, with their reason, and so is a path the source gives twice.
func Verify(ctx context.Context, pool *pgxpool.Pool, plan *Plan, src Source) (*VerifyReport, error) {
	type entry struct {
		group  string
		sum    []byte
		origin string
	}
	source := map[string]entry{}
	var twice []Difference
	err := src.Documents(ctx, func(d Document) error {
		data, err := EncodeFields(d.Fields)
		if err != nil {
			return err
		}
		if first, dup := source[d.Path]; dup {
			// The load stops at such a source; one loaded before the check existed holds one
			// of the two.
			twice = append(twice, Difference{d.Path, (&duplicateError{path: d.Path, first: first.origin, second: d.Origin}).Error()})
			return nil
		}
		source[d.Path] = entry{d.CollectionID(), Checksum(data), d.Origin}
		return nil
	})
	if err != nil {
		return nil, err
	}
	target := map[string]entry{}
	where := map[string]string{}
	for _, t := range plan.allTables() {
		rows, err := pool.Query(ctx, plan.selectSQL(t))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", plan.qualified(t.name), err)
		}
		for rows.Next() {
			d, err := t.document(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			canon, err := EncodeFields(d.Fields)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if other, dup := where[d.Path]; dup {
				twice = append(twice, Difference{d.Path, "in two tables: " + other + " and " + t.name})
			}
			where[d.Path] = t.name
			target[d.Path] = entry{group: d.CollectionID(), sum: Checksum(canon)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rejected := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT path, target_table, reason FROM `+plan.qualified(RejectsTable))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", plan.qualified(RejectsTable), err)
	}
	for rows.Next() {
		var path, table, reason string
		if err := rows.Scan(&path, &table, &reason); err != nil {
			return nil, err
		}
		rejected[path] = "rejected from " + table + ": " + reason
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rep := &VerifyReport{Differences: []Difference{}}
	groups := map[string]*GroupCheck{}
	sums := map[string][2][]string{} // group -> sorted "path:sum" lists for source and target
	add := func(m map[string]entry, side int) {
		for path, e := range m {
			g := groups[e.group]
			if g == nil {
				g = &GroupCheck{CollectionID: e.group}
				groups[e.group] = g
			}
			if side == 0 {
				g.SourceCount++
			} else {
				g.TargetCount++
			}
			s := sums[e.group]
			s[side] = append(s[side], path+":"+hex.EncodeToString(e.sum))
			sums[e.group] = s
		}
	}
	add(source, 0)
	add(target, 1)
	for name, g := range groups {
		s := sums[name]
		g.SourceChecksum, g.TargetChecksum = setSum(s[0]), setSum(s[1])
		g.Match = g.SourceCount == g.TargetCount && g.SourceChecksum == g.TargetChecksum
		rep.Groups = append(rep.Groups, *g)
	}
	sort.Slice(rep.Groups, func(i, j int) bool { return rep.Groups[i].CollectionID < rep.Groups[j].CollectionID })
	for path, e := range source {
		t, ok := target[path]
		switch {
		case !ok && rejected[path] != "":
			rep.Differences = append(rep.Differences, Difference{path, rejected[path]})
		case !ok:
			rep.Differences = append(rep.Differences, Difference{path, "missing in PostgreSQL"})
		case !bytes.Equal(t.sum, e.sum):
			rep.Differences = append(rep.Differences, Difference{path, "content differs"})
		}
	}
	for path := range target {
		if _, ok := source[path]; !ok {
			rep.Differences = append(rep.Differences, Difference{path, "not in the source"})
		}
	}
	rep.Differences = append(rep.Differences, twice...)
	sort.Slice(rep.Differences, func(i, j int) bool { return rep.Differences[i].Path < rep.Differences[j].Path })
	return rep, nil
}

// setSum hashes a set of "path:checksum" entries independently of order.
func setSum(entries []string) string {
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
