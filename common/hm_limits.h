/* hm_limits.h - every bound in one place.
 *
 * Anything read from the network or a disk is checked against these before
 * memory is sized by it.  Related bounds are tied together with
 * _Static_assert so that changing one cannot silently break another.
 */
#ifndef HM_LIMITS_H
#define HM_LIMITS_H

#include <stdint.h>

/* ---- formats ------------------------------------------------------------ */
#define HM_FORMAT_VERSION_MIN 1u       /* oldest record version we read */
#define HM_FORMAT_VERSION_MAX 1u       /* newest record version we read/write */
#define HM_FORMAT_VERSION HM_FORMAT_VERSION_MAX

/* ---- S3 names and metadata (AWS limits) --------------------------------- */
#define HM_BUCKET_NAME_BYTES_MIN 3u
#define HM_BUCKET_NAME_BYTES_MAX 63u
#define HM_KEY_BYTES_MAX 1024u
#define HM_USER_META_BYTES_MAX 2048u   /* x-amz-meta-* names + values */
#define HM_TAGS_MAX 10u
#define HM_TAG_KEY_CHARS_MAX 128u     /* AWS counts tag lengths in Unicode */
#define HM_TAG_VALUE_CHARS_MAX 256u   /* characters, at most 4 UTF-8 bytes each */
#define HM_TAG_KEY_BYTES_MAX (4u * HM_TAG_KEY_CHARS_MAX)
#define HM_TAG_VALUE_BYTES_MAX (4u * HM_TAG_VALUE_CHARS_MAX)
#define HM_LIST_KEYS_MAX 1000u
#define HM_DELETE_KEYS_MAX 1000u
#define HM_PARTS_MAX 10000u
#define HM_PART_BYTES_MIN (5ull << 20)
#define HM_PART_BYTES_MAX (5ull << 30)
#define HM_UPLOAD_ID_BYTES_MAX 64u       /* ours are 32 hex chars; bound for lookups */
#define HM_LIST_UPLOADS_MAX 1000u        /* ListMultipartUploads max-uploads */
#define HM_LIST_PARTS_MAX 1000u          /* ListParts max-parts */
#define HM_PUT_BYTES_MAX (5ull << 30)  /* single PUT */
#define HM_OBJECT_BYTES_MAX (5ull << 40)

/* ---- HTTP --------------------------------------------------------------- */
#define HM_HTTP_HEADERS_BYTES_MAX (16u << 10)  /* all request headers */
#define HM_HTTP_CONNECTIONS_MAX 512u
#define HM_HTTP_THREAD_STACK_BYTES (256u << 10)
#define HM_HTTP_XML_BODY_BYTES_MAX (1u << 20)  /* CompleteMultipartUpload etc */
#define HM_CLOCK_SKEW_MS_MAX (15ll * 60 * 1000)

/* ---- data path ---------------------------------------------------------- */
#define HM_STRIPE_BYTES (1u << 20)             /* data bytes per stripe */
#define HM_SHARD_BLOCK_BYTES (64u << 10)       /* CRC32C granularity */
#define HM_EC_DECODE_CACHE_ENTRIES 64u         /* decode tables kept per (k, m) */
#define HM_EC_ENCODE_SLICE_BYTES (64u << 10)   /* a PUT copies and encodes a stripe
                                                * this much at a time, so the bytes
                                                * encoded are still in cache */
#define HM_INLINE_BYTES_MAX (4u << 10)         /* objects this small live in meta */
#define HM_SHARD_HEADER_BYTES_MAX (60u << 10)  /* packed ShardHeader (shard format 2) */
#define HM_GC_GRACE_MS (60ll * 1000)           /* read grace before blob delete */
#define HM_INTENT_TTL_MS (24ll * 3600 * 1000)  /* an upload may take this long */
#define HM_MPU_EXPIRY_MS (7ll * 24 * 3600 * 1000) /* abandoned multipart uploads */
#define HM_GC_LEASE_MS (30ll * 1000)           /* the one collector's lease */
#define HM_DISK_AVOID_MS (2ll * 1000)          /* placement skips a disk dropped
                                                * from a write this long */
#define HM_INTENT_RETIRED_MS (5ll * 60 * 1000) /* a retired intent's tombstone */
#define HM_REPAIR_ITEMS_PER_WRITE_MAX 20u      /* repair items in one ObjectPut/part:
                                                * HM_EC_SHARDS_MAX of one blob */
#define HM_REPAIR_DISK_ID_BYTES_MAX 64u        /* a repair item's disk id */

/* ---- RPC ---------------------------------------------------------------- */
#define HM_RPC_FRAME_HDR_BYTES 32u
#define HM_RPC_PROTO_BYTES_MAX (8u << 20)      /* one protobuf message */
#define HM_RPC_BULK_BYTES_MAX (1u << 20)       /* bulk bytes in one frame */
#define HM_RPC_CALL_TIMEOUT_MS 30000
#define HM_RPC_CONNECT_TIMEOUT_MS 5000
_Static_assert(HM_INTENT_RETIRED_MS >= 4ll * (HM_RPC_CALL_TIMEOUT_MS + HM_RPC_CONNECT_TIMEOUT_MS),
               "a retried IntentPut arrives well inside its tombstone's life");
#define HM_RPC_POOL_IDLE_MAX 64u               /* idle connections kept per peer */
#define HM_RPC_SERVER_CONNS_MAX 1024u
#define HM_RPC_PEER_NAME_BYTES_MAX 64u         /* X.509 ub-common-name */
#define HM_RPC_ADDR_BYTES_MAX 300u             /* "host:port" */
#define HM_RPC_HANDSHAKE_TIMEOUT_MS HM_RPC_CONNECT_TIMEOUT_MS
#define HM_RPC_SERVER_IDLE_TIMEOUT_MS (5 * 60 * 1000) /* between requests */

/* ---- metadata ----------------------------------------------------------- */
#define HM_KV_KEY_BYTES_MAX 511u               /* LMDB's default key limit */
#define HM_NAMES_PREFIX_BYTES 440u             /* names-table key prefix */
#define HM_NAMES_ROW_BYTES_MAX (32u << 10)     /* packed NameList row (ADR 13) */
#define HM_META_LOG_SEGMENT_BYTES (64u << 20)
#define HM_META_LOG_RECORD_BYTES_MAX (HM_RPC_PROTO_BYTES_MAX)
#define HM_META_BATCH_MAX 1024u                /* commands in one group commit */
#define HM_META_DURABLE_EVERY 1u               /* every state commit durable (ADR 0006) */
#define HM_META_DURABLE_MS 1000                /* ... or this long, whichever comes first */
#define HM_META_COMMIT_DELAY_US 6000           /* group commit gathers this long under load */
#define HM_KV_MAP_BYTES (64ull << 30)          /* LMDB map size (sparse) */

_Static_assert(HM_INLINE_BYTES_MAX <= (16u << 10), "design: inline at most 16 KiB");
_Static_assert(HM_STRIPE_BYTES % HM_SHARD_BLOCK_BYTES == 0, "stripe is whole blocks");
_Static_assert(HM_RPC_BULK_BYTES_MAX >= HM_SHARD_BLOCK_BYTES, "a block fits a frame");
_Static_assert(HM_NAMES_PREFIX_BYTES + 8 + 16 <= HM_KV_KEY_BYTES_MAX,
               "names key = bucket id + prefix + terminator fits LMDB");
/* A split leaves rows of at most half the cap; one entry (key, 16-byte
 * object id, tags and lengths) must fit in that half with room to spare. */
_Static_assert(4u * (HM_KEY_BYTES_MAX + 64u) <= HM_NAMES_ROW_BYTES_MAX,
               "a names row holds several of the longest entries");
/* Tests may lower the cap (hm_meta_sm_test_names_bounds) so that rows of
 * short keys split often, but not below two of the longest entries: a row
 * still holds two of them and a split half one. */
#define HM_NAMES_ROW_BYTES_TEST_MIN (2u * (HM_KEY_BYTES_MAX + 64u))
_Static_assert(HM_NAMES_ROW_BYTES_TEST_MIN <= HM_NAMES_ROW_BYTES_MAX,
               "the smallest test cap is a cap production could have");
_Static_assert(HM_USER_META_BYTES_MAX < HM_HTTP_HEADERS_BYTES_MAX, "meta fits headers");
_Static_assert(HM_HTTP_XML_BODY_BYTES_MAX < HM_RPC_PROTO_BYTES_MAX, "xml fits a message");

#endif
