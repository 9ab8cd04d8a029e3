/* fuzz_disk_label.c - a disk's label (hamster-disk) from a hostile disk.
 *
 * Every input either fails with HM_ECORRUPT / HM_EVERSION or parses into a
 * label whose fields obey the rules (32-hex ids, a v2 slot within bounds
 * and a cluster id), which packs again and parses back to the same label. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_disk_label.h"
#include "hm_err.h"

static int fuzz_hex_id(const char *s)
{
    if (strlen(s) != HM_DISK_ID_HEX_BYTES) return 0;
    for (size_t i = 0; i < HM_DISK_ID_HEX_BYTES; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_disk_label l, back;
    int rc = hm_disk_label_parse(data, size, &l);
    if (rc != 0) {
        if (rc != HM_ECORRUPT && rc != HM_EVERSION) abort();
        return 0;
    }
    if (l.format_version < HM_DISK_LABEL_VERSION_MIN || l.format_version > HM_DISK_LABEL_VERSION)
        abort();
    if (!fuzz_hex_id(l.disk_id)) abort();
    if (l.cluster_id[0] != '\0' && !fuzz_hex_id(l.cluster_id)) abort();
    if (l.format_version >= 2 && (l.cluster_id[0] == '\0' || l.slot > HM_DISK_SLOT_MAX)) abort();
    if (l.format_version == 1 && l.slot != HM_DISK_SLOT_ANY) abort();
    uint8_t buf[256];
    size_t len = 0;
    if (hm_disk_label_pack(&l, buf, sizeof buf, &len) != 0) abort();
    if (hm_disk_label_parse(buf, len, &back) != 0) abort();
    if (back.format_version != l.format_version || strcmp(back.disk_id, l.disk_id) != 0 ||
        strcmp(back.cluster_id, l.cluster_id) != 0 || back.slot != l.slot ||
        back.created_ms != l.created_ms)
        abort();
    return 0;
}
