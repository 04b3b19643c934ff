<?php
/**
 * Plugin Name: ephpm page cache purge
 * Description: Purges ephpm's page cache when content changes: a post's URL, the front page and the feeds when a post or comment changes; everything when the theme, menus or widgets change.
 * Version: 1.0
 * License: Apache-2.0
 *
 * Installed by `ephpm wp enable-page-cache DOCROOT` into wp-content/mu-plugins/.
 * Each purge reaches the page cache of every core before
 * ephpm_cache_purge() returns, so the next visitor sees the change.
 * Extend the list with the `ephpm_page_cache_purge_urls` filter.
 */

if (!function_exists('ephpm_cache_purge')) {
    return; // Not running on ephpm (or without its PHP functions).
}

/** Purges each URL or prefix (a trailing `*`) once per request. */
function ephpm_page_cache_purge(array $urls)
{
    static $done = [];
    foreach (array_unique($urls) as $url) {
        if (is_string($url) && $url !== '' && !isset($done[$url])) {
            $done[$url] = true;
            ephpm_cache_purge($url);
        }
    }
}

/** What a change to a public post makes stale. */
function ephpm_page_cache_post_urls($post)
{
    $post = get_post($post);
    if (!$post || wp_is_post_revision($post) || wp_is_post_autosave($post)) {
        return [];
    }
    $type = get_post_type_object($post->post_type);
    if (!$type || !$type->public) {
        return [];
    }
    $urls = [
        // The post itself, its pages and its comment feed (any permalink form).
        home_url('/?p=' . $post->ID) . '*',
        home_url('/?page_id=' . $post->ID) . '*',
        // The front page and its older pages.
        home_url('/'),
        home_url('/page/*'),
        home_url('/?paged=*'),
        // The feeds, pretty and plain.
        home_url('/feed/*'),
        home_url('/comments/feed/*'),
        home_url('/?feed=*'),
    ];
    $link = get_permalink($post);
    if ($link) {
        $urls[] = $link . '*';
    }
    $posts_page = (int) get_option('page_for_posts');
    if ($posts_page) {
        $urls[] = get_permalink($posts_page) . '*';
    }
    return apply_filters('ephpm_page_cache_purge_urls', $urls, $post);
}

// A post published, changed, unpublished or trashed.
add_action('transition_post_status', function ($new, $old, $post) {
    if ($new === 'publish' || $old === 'publish') {
        ephpm_page_cache_purge(ephpm_page_cache_post_urls($post));
    }
}, 10, 3);

// A published post deleted for good.
add_action('before_delete_post', function ($post_id) {
    if (get_post_status($post_id) === 'publish') {
        ephpm_page_cache_purge(ephpm_page_cache_post_urls($post_id));
    }
});

// A comment added, edited, approved, unapproved or deleted.
$ephpm_comment_changed = function ($comment) {
    $comment = get_comment($comment);
    if ($comment && $comment->comment_post_ID) {
        ephpm_page_cache_purge(ephpm_page_cache_post_urls((int) $comment->comment_post_ID));
    }
};
add_action('wp_insert_comment', $ephpm_comment_changed);
add_action('edit_comment', $ephpm_comment_changed);
add_action('delete_comment', $ephpm_comment_changed);
add_action('transition_comment_status', function ($new, $old, $comment) use ($ephpm_comment_changed) {
    $ephpm_comment_changed($comment);
}, 10, 3);

// Site-wide changes: every page may show them.
foreach (['switch_theme', 'customize_save_after', 'wp_update_nav_menu', 'update_option_sidebars_widgets',
          'update_option_blogname', 'update_option_blogdescription', 'update_option_permalink_structure'] as $hook) {
    add_action($hook, function () {
        ephpm_page_cache_purge(['*']);
    });
}
