# Reports: Debian's Chromium for the browser test of the HTML report (driven by playwright-core,
# which never downloads a browser of its own here), xmllint to validate the JUnit XML against
# test/fixtures/junit/junit.xsd, and cmark-gfm (GitHub's Markdown renderer) to check that the
# Markdown summary renders to tables.
apt_need chromium chromium xmllint libxml2-utils cmark-gfm cmark-gfm
