// libzstd, for reading zstd-compressed captures (streaming decompression).
#pragma once
#include <zstd.h>
