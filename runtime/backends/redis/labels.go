package redis

import (
	"context"
	"encoding/json"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

// The label index. A run's label K=V is the reserved key __label.K of its
// state hash, holding V as JSON; to find the runs of a label without
// reading every run, the namespaces that carry it are also members of
//
//	PREFIX:label:K:V       sorted set, every score 0, so that ZRANGEBYLEX
//	                       pages through the namespaces in order
//
// (V as its JSON). That set lives in its own cluster slot, not the
// namespace's, so no script may write it together with the state hash (a
// cluster refuses scripts whose keys span slots): it is kept by separate
// commands, in an order that keeps it a superset of the truth. A write
// that sets a label adds the namespace before the script and again after
// it; a write that removes one, or Drop, or an expiry, leaves the member,
// and Labelled, which checks each member against the state hash before
// returning it, removes the stale ones (then checks again, putting back a
// member whose label was set meanwhile). A writer that dies between its
// script and its second add, while a listing removes the member of the
// first, can leave a labelled run out of the index until its label is
// written again: the one gap, and it needs a crash and a race at once.

// labelKey is the index set of the label held in reserved key key with
// JSON value value.
func (b *Backend) labelKey(key string, value []byte) string {
	return b.prefix + ":label:" + strings.TrimPrefix(key, runtime.LabelKey("")) + ":" + string(value)
}

// labelPuts returns the label puts of a batch.
func labelPuts(batch *runtime.Batch) []runtime.KV {
	var out []runtime.KV
	for _, kv := range batch.Puts {
		if strings.HasPrefix(kv.Key, runtime.LabelKey("")) {
			out = append(out, kv)
		}
	}
	return out
}

// index adds ns to the index sets of labels.
func (b *Backend) index(ctx context.Context, ns string, labels []runtime.KV) error {
	if len(labels) == 0 {
		return nil
	}
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, kv := range labels {
			p.ZAdd(ctx, b.labelKey(kv.Key, compact(kv.Value)), goredis.Z{Member: ns})
		}
		return nil
	})
	return classify(err)
}

// compact is a JSON value as the Store writes it (it may come indented
// from elsewhere).
func compact(v []byte) []byte {
	if c, err := json.Marshal(json.RawMessage(v)); err == nil {
		return c
	}
	return v
}

var _ runtime.LabelIndex = (*Backend)(nil)

// Labelled pages through the index set of a label, in namespace order, and
// returns the members whose state hash holds the label, removing the
// others from the set.
func (b *Backend) Labelled(ctx context.Context, key string, value json.RawMessage, after string, limit int) ([]string, string, error) {
	set := b.labelKey(key, compact(value))
	min := "-"
	if after != "" {
		min = "(" + after
	}
	members, err := b.client.ZRangeByLex(ctx, set, &goredis.ZRangeBy{Min: min, Max: "+", Count: int64(limit)}).Result()
	if err != nil {
		return nil, "", classify(err)
	}
	next := ""
	if len(members) == limit && limit > 0 {
		next = members[len(members)-1]
	}
	have, err := b.labelValues(ctx, members, key)
	if err != nil {
		return nil, "", err
	}
	var out, stale []string
	for i, ns := range members {
		if have[i] == string(value) {
			out = append(out, ns)
		} else {
			stale = append(stale, ns)
		}
	}
	if len(stale) > 0 {
		if err := b.unindex(ctx, set, key, value, stale); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// labelValues reads reserved key key of each namespace, "" where absent.
func (b *Backend) labelValues(ctx context.Context, names []string, key string) ([]string, error) {
	cmds := make([]*goredis.StringCmd, len(names))
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, ns := range names {
			if runtime.ValidateName("namespace", ns) != nil {
				continue
			}
			cmds[i] = p.HGet(ctx, b.stateKey(ns), "v:"+key)
		}
		return nil
	})
	if err != nil && err != goredis.Nil {
		return nil, classify(err)
	}
	out := make([]string, len(names))
	for i, c := range cmds {
		if c != nil {
			out[i] = string(compact([]byte(c.Val())))
		}
	}
	return out, nil
}

// unindex removes stale members of a label's set, then puts back those
// whose label was set meanwhile.
func (b *Backend) unindex(ctx context.Context, set, key string, value []byte, stale []string) error {
	members := make([]any, len(stale))
	for i, ns := range stale {
		members[i] = ns
	}
	if err := b.client.ZRem(ctx, set, members...).Err(); err != nil {
		return classify(err)
	}
	have, err := b.labelValues(ctx, stale, key)
	if err != nil {
		return err
	}
	var back []goredis.Z
	for i, ns := range stale {
		if have[i] == string(value) {
			back = append(back, goredis.Z{Member: ns})
		}
	}
	if len(back) > 0 {
		return classify(b.client.ZAdd(ctx, set, back...).Err())
	}
	return nil
}
