/* placeholder, replaced by the role library */ typedef int hm_placeholder_t;
