/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Owns target_info: the resource attributes of each target as labels. */
#ifndef OA_EXPOSE_TARGET_INFO_H
#define OA_EXPOSE_TARGET_INFO_H

#include "expose/expo.h"

/* The target_info family: one sample per target. */
void put_target_info(struct expo *e, const struct oa_snapshot *s);

#endif /* OA_EXPOSE_TARGET_INFO_H */
