#!/bin/sh
# The README's picture of a cohort report: the top of REPORT (report.html) rendered by wkhtmltoimage
# (Debian package wkhtmltopdf), 1100 px wide, cut to its first 1500 rows.
#   tools/report_screenshot.sh OUT_DIR/report.html docs/cohort_report.png
set -e
full=$(mktemp --suffix=.png)
wkhtmltoimage --quiet --width 1100 --enable-local-file-access "$1" "$full"
.venv/bin/python -c "import sys, matplotlib.pyplot as plt; plt.imsave(sys.argv[2], plt.imread(sys.argv[1])[:1500, :, :3])" "$full" "$2"
rm -f "$full"
