package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stategen/stategen/runtime"
)

var _ runtime.Dropper = (*Backend)(nil)

// dropScript deletes a namespace: its state hash, its checkpoints, their
// index and headers and its applied batch IDs, in one script, so that no
// client sees part of it gone. It returns 0 when the namespace held
// nothing, and -1, deleting nothing, when it holds something at a revision
// other than ARGV[2] ("0": any).
//
//	KEYS[1] state hash, KEYS[2] checkpoint index, KEYS[3] applied batch IDs,
//	KEYS[4] checkpoint headers; ARGV[1] checkpoint key prefix, ARGV[2] the
//	revision the namespace must be at
var dropScript = goredis.NewScript(`
local state, index, applied = KEYS[1], KEYS[2], KEYS[3]
local book = redis.call('HEXISTS', state, '_rev') + redis.call('HEXISTS', state, '_created')
local names = redis.call('ZRANGE', index, 0, -1)
local live = redis.call('HLEN', state) > book or #names > 0
if live and ARGV[2] ~= '0' and (redis.call('HGET', state, '_rev') or '0') ~= ARGV[2] then return -1 end
for _, name in ipairs(names) do
	redis.call('DEL', ARGV[1] .. name)
end
redis.call('DEL', state, index, applied, KEYS[4])
if live then return 1 end
return 0
`)

// Drop deletes a namespace in one script, which first checks ifRevision.
// Its revisions start over. Its entries in the label indexes go when a
// listing finds them stale.
func (b *Backend) Drop(ctx context.Context, ns string, ifRevision int64) error {
	if b.readOnly {
		return fmt.Errorf("redis: %w", runtime.ErrReadOnly)
	}
	n, err := dropScript.Run(ctx, b.client, []string{b.stateKey(ns), b.indexKey(ns), b.appliedKey(ns), b.headersKey(ns)},
		b.cpPrefix(ns), strconv.FormatInt(ifRevision, 10)).Int()
	switch {
	case err != nil:
		return classify(err)
	case n == 0:
		return runtime.ErrNotFound
	case n < 0:
		return fmt.Errorf("namespace: %w: expected revision %d, found another", runtime.ErrConflict, ifRevision)
	}
	return nil
}
