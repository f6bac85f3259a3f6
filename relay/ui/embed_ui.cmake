# Turns relay/ui/index.html into `const char ui_index_html[]` (+ its length) in one generated
# C file, so the relay serves its dashboard with no file beside the binary.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUT} "/* generated from relay/ui/index.html by embed_ui.cmake; do not edit */\n"
  "#include <stddef.h>\n"
  "const char ui_index_html[] = {${hex}0x00};\n"
  "const size_t ui_index_html_len = ${n};\n")
