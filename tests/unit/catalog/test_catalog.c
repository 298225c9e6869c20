/*
 * test_catalog.c — the pure parts of the catalog: the product state machine
 * table, handles and tags, currencies, visibility, cursors and sort names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "catalog/catalog.h"
#include "catalog/listing.h"
#include "catalog/review.h"

static void test_state_machine(void **state)
{
    (void)state;
    /* names round-trip */
    for (int s = 1; s < PRODUCT_STATUS_COUNT; s++)
        assert_int_equal(product_status_parse(product_status_name((product_status_t)s)), s);
    assert_int_equal(product_status_parse("deleted"), PRODUCT_STATUS_NONE);
    assert_int_equal(product_status_parse(NULL), PRODUCT_STATUS_NONE);
    for (int a = 1; a < PRODUCT_ACTION_COUNT; a++)
        assert_int_equal(product_action_parse(product_action_name((product_action_t)a)), a);
    /* the workflow */
    assert_true(product_action_allowed_from(PRODUCT_ACTION_SUBMIT, PRODUCT_DRAFT));
    assert_true(product_action_allowed_from(PRODUCT_ACTION_SUBMIT, PRODUCT_REJECTED));
    assert_false(product_action_allowed_from(PRODUCT_ACTION_SUBMIT, PRODUCT_PUBLISHED));
    assert_false(product_action_allowed_from(PRODUCT_ACTION_SUBMIT, PRODUCT_PENDING_REVIEW));
    assert_true(product_action_allowed_from(PRODUCT_ACTION_APPROVE, PRODUCT_PENDING_REVIEW));
    assert_false(product_action_allowed_from(PRODUCT_ACTION_APPROVE, PRODUCT_DRAFT));
    assert_false(product_action_allowed_from(PRODUCT_ACTION_REJECT, PRODUCT_PUBLISHED));
    assert_false(product_action_allowed_from(PRODUCT_ACTION_ARCHIVE, PRODUCT_ARCHIVED));
    for (int s = 1; s < PRODUCT_STATUS_COUNT; s++)
        if (s != PRODUCT_ARCHIVED) assert_true(product_action_allowed_from(PRODUCT_ACTION_ARCHIVE, (product_status_t)s));
    assert_int_equal(product_action_target(PRODUCT_ACTION_APPROVE), PRODUCT_PUBLISHED);
    assert_int_equal(product_action_target(PRODUCT_ACTION_REJECT), PRODUCT_REJECTED);
    assert_int_equal(product_action_who(PRODUCT_ACTION_APPROVE), CAT_BY_ADMIN);
    assert_int_equal(product_action_who(PRODUCT_ACTION_SUBMIT), CAT_BY_OWNER);
    assert_string_equal(product_action_event(PRODUCT_ACTION_APPROVE), "product.published");
    assert_false(product_action_allowed_from(PRODUCT_ACTION_NONE, PRODUCT_DRAFT));
    assert_false(product_action_allowed_from((product_action_t)99, PRODUCT_DRAFT));
}

static void test_visibility(void **state)
{
    (void)state;
    catalog_actor_t anon = { 0 }, seller = { "usr_a", true, false }, other = { "usr_b", true, false },
                    admin = { "usr_c", false, true };
    assert_true(product_visible_to(&anon, PRODUCT_PUBLISHED, "usr_a"));
    assert_false(product_visible_to(&anon, PRODUCT_DRAFT, "usr_a"));
    assert_true(product_visible_to(&seller, PRODUCT_DRAFT, "usr_a"));
    assert_false(product_visible_to(&other, PRODUCT_DRAFT, "usr_a"));
    assert_true(product_visible_to(&admin, PRODUCT_PENDING_REVIEW, "usr_a"));
    assert_false(product_visible_to(NULL, PRODUCT_ARCHIVED, "usr_a"));
}

static void test_handles_tags_currency(void **state)
{
    (void)state;
    char h[CAT_HANDLE_MAX + 1];
    assert_string_equal(catalog_handle_from_title(h, sizeof h, "Crème Brûlée  Pot (2 pcs)!"), "creme-brulee-pot-2-pcs");
    assert_string_equal(catalog_handle_from_title(h, sizeof h, "--Łódź--"), "lodz");
    assert_string_equal(catalog_handle_from_title(h, sizeof h, "😀 ✓"), "product");
    assert_true(catalog_handle_valid("wool-sweater-2"));
    assert_false(catalog_handle_valid("-wool"));
    assert_false(catalog_handle_valid("wool--sweater"));
    assert_false(catalog_handle_valid("Wool"));
    assert_false(catalog_handle_valid(""));
    assert_false(catalog_handle_valid("prod_01jgk4z7x0f1cvzjzmgea6tare")); /* ids never look like handles */
    char t[CAT_TAG_MAX + 1];
    assert_int_equal(catalog_tag_normalize(t, sizeof t, " Eco Friendly "), 0);
    assert_string_equal(t, "eco-friendly");
    assert_int_equal(catalog_tag_normalize(t, sizeof t, "Café"), 0);
    assert_string_equal(t, "cafe");
    assert_int_equal(catalog_tag_normalize(t, sizeof t, "!!!"), -1);
    assert_int_equal(catalog_tag_normalize(t, sizeof t, "ПРИВЕТ"), -1);
    assert_int_equal(catalog_tag_normalize(t, sizeof t, "a123456789012345678901234567890123"), -1);
    assert_true(catalog_currency_valid("EUR"));
    assert_false(catalog_currency_valid("eur"));
    assert_false(catalog_currency_valid("EURO"));
    assert_false(catalog_currency_valid(NULL));
}

static void test_cursor_codec(void **state)
{
    (void)state;
    arena_t *a = arena_new();
    catalog_cursor_t c = { .sort = PRODUCT_SORT_PRICE_ASC, .key = -1999 }, d;
    strcpy(c.id, "prod_01jgk4z7x0f1cvzjzmgea6tare");
    char *s = catalog_cursor_encode(a, &c);
    for (const char *p = s; *p; p++) assert_true(strchr("+/=", *p) == NULL); /* base64url, no padding */
    assert_int_equal(catalog_cursor_decode(s, &d), 0);
    assert_int_equal(d.sort, c.sort);
    assert_true(d.key == c.key);
    assert_string_equal(d.id, c.id);
    /* a relevance score survives exactly */
    c.sort = PRODUCT_SORT_RELEVANCE;
    c.key = catalog_score_bits(1003.1415926535);
    assert_int_equal(catalog_cursor_decode(catalog_cursor_encode(a, &c), &d), 0);
    assert_true(catalog_score_from_bits(d.key) == 1003.1415926535);
    /* junk is refused */
    assert_int_equal(catalog_cursor_decode("", &d), -1);
    assert_int_equal(catalog_cursor_decode("!!!", &d), -1);
    assert_int_equal(catalog_cursor_decode("djEuMC4xLnByb2RfeA", &d), -1);        /* v1.0.1.prod_x */
    assert_int_equal(catalog_cursor_decode("djEuOTkuMS5wcm9kXzAx", &d), -1);      /* sort 99 */
    assert_int_equal(product_sort_parse("price_desc"), PRODUCT_SORT_PRICE_DESC);
    assert_int_equal(product_sort_parse("cheapest"), -1);
    assert_true(product_sort_desc(PRODUCT_SORT_NEWEST));
    assert_false(product_sort_desc(PRODUCT_SORT_PRICE_ASC));
    assert_int_equal(review_sort_parse("rating_asc"), REVIEW_SORT_RATING_ASC);
    assert_int_equal(review_sort_parse("best"), -1);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_handles_tags_currency),
        cmocka_unit_test(test_cursor_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
