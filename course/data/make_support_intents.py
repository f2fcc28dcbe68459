"""Generate the bundled customer-request intent set (v1) from a fixed seed.

Run `python -m course.data.make_support_intents` to rebuild the JSONL files; the test suite
checks that a rebuild is byte-identical to what is committed.

Each row is one message a customer sends the course's fictional airline, labelled with what the
customer wants (one of `INTENTS`). Many messages open with context that names another intent's
topic ("I already checked in, but ...", "my suitcase arrived fine, ..."), so a single keyword does
not give the label away: the model has to read what is being asked.
"""

from __future__ import annotations

import random
from pathlib import Path

from course.data import write_splits

SEED = 2026
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "support_intents" / VERSION
SPLITS = {"train": 1200, "validation": 160, "test": 160}

# the labels, in the order a classification head numbers them
INTENTS = ["refund", "rebooking", "baggage", "seat_upgrade", "check_in", "special_assistance", "complaint",
           "loyalty_points"]

CITIES = ["Lisbon", "Chicago", "Denver", "Madrid", "Toronto", "Oslo", "Boston", "Dublin", "Seattle", "Rome",
          "Athens", "Vienna", "Miami", "Prague", "Zurich"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "tomorrow", "next week"]
WHO = ["my mother", "my father", "my son", "my daughter", "my husband", "my wife", "my colleague", "my grandmother"]

# what the customer asks for: {city}, {day}, {num}, {who} are filled in
ASKS: dict[str, list[str]] = {
    "refund": [
        "I would like my money back for the flight to {city}.",
        "Can you reimburse the ticket I paid for on flight {num}?",
        "Please return the fare to my credit card, I no longer want to travel.",
        "How long does it take for the cancelled booking to be paid back to my account?",
        "I was charged twice for the same ticket to {city}, please give me one payment back.",
        "I cancelled my trip to {city} and want the full amount returned.",
        "Is my fare refundable if I decide not to fly on {day}?",
        "The flight was cancelled and I'd rather have the cash than a voucher.",
        "I'm still waiting for the reimbursement you promised for flight {num}.",
        "Where is the refund for the trip I called off last month?",
        "I paid for extra legroom that I never got, can I have that charge reversed?",
        "We won't be travelling to {city} after all, please credit the ticket price back to my card.",
    ],
    "rebooking": [
        "Can you move me to a later flight to {city} on {day}?",
        "I need to change the date of my trip to {city}.",
        "Is there an earlier connection I could switch to on {day}?",
        "I missed my connection to {city}, please put me on the next departure.",
        "Could I swap flight {num} for one that leaves in the evening?",
        "My meeting moved, so I have to travel on {day} instead.",
        "Please change my return leg so I come back two days later.",
        "Can {who} and I fly out a day earlier than booked?",
        "What does it cost to change the destination from {city} to Rome?",
        "My flight {num} was cancelled, which other flight can you give me?",
        "I'd like to postpone my journey to {city} by a week.",
        "Can you find me a different routing to {city} that avoids the overnight stop?",
    ],
    "baggage": [
        "My suitcase didn't arrive in {city}, where is it?",
        "The handle of my bag was broken when I picked it up after flight {num}.",
        "How many kilos can I put in the hold on my flight to {city}?",
        "Can I bring my golf clubs as checked luggage?",
        "My luggage has been missing for three days, any news?",
        "I left my jacket in the overhead bin on flight {num}.",
        "Is a second carry-on allowed if it is a small backpack?",
        "How much is an extra bag on the route to {city}?",
        "The airport lost {who}'s luggage and we need it back before {day}.",
        "Can I take a folded stroller to the gate and have it put in the hold there?",
        "My bag came out of the belt soaking wet and my clothes are ruined, how do I claim for them?",
        "Do I have to pay to check a guitar in on flight {num}?",
    ],
    "seat_upgrade": [
        "Can I move up to business class on my flight to {city}?",
        "I'd like a window seat for flight {num}.",
        "How much is it to upgrade to premium economy on {day}?",
        "Please seat me next to {who}, we were split up.",
        "Is there an exit row seat free on the flight to {city}?",
        "Could I bid for an upgrade with my booking?",
        "I want an aisle seat, I get up a lot on long flights.",
        "Are there any seats with more legroom left on flight {num}?",
        "Can you change my seat away from the toilets?",
        "Is it possible to sit in the front rows on {day}'s flight to {city}?",
        "Can I pay for the empty seat next to me so I have more room?",
        "What would first class cost on top of what I paid for the trip to {city}?",
    ],
    "check_in": [
        "The app won't let me check in for flight {num}.",
        "When does online check-in open for my flight to {city}?",
        "I can't download my boarding pass, it shows an error.",
        "How early must I be at the desk for the flight on {day}?",
        "Can I print my boarding pass at the airport kiosk?",
        "My passport number was rejected when I tried to check in.",
        "Where do I get my boarding pass if I only have hand luggage?",
        "Check-in says my booking reference does not exist.",
        "Can {who} check in for me, since we're on the same booking?",
        "What time does the bag drop close for flight {num}?",
        "The website keeps logging me out before I get my boarding card for {city}.",
        "Does the mobile boarding pass work at the gate in {city}, or do I need paper?",
    ],
    "special_assistance": [
        "{who} uses a wheelchair, can someone help at the airport in {city}?",
        "I'm travelling with a guide dog on flight {num}, what do I need to arrange?",
        "Can we request help for {who}, who cannot walk long distances?",
        "My son has a severe nut allergy, can the crew be told?",
        "I'm pregnant, is there a limit on when I can fly to {city}?",
        "Can I bring my oxygen concentrator on board?",
        "My daughter is flying alone on {day}, is there an escort service for minors?",
        "I am hard of hearing, how will I know when boarding starts?",
        "{who} has dementia and needs someone to meet them at the gate.",
        "Could I get assistance through security, I have a bad knee since surgery.",
        "I need to take insulin during the flight, is that allowed?",
        "Is there a quiet place to wait for my autistic son before we board in {city}?",
    ],
    "complaint": [
        "The crew member at the gate in {city} was rude to {who}.",
        "The cabin on flight {num} was dirty and the seat pocket was full of rubbish.",
        "I want to file a formal complaint about how I was treated at the desk.",
        "The meal served on my flight to {city} was cold and tasted off.",
        "Your staff ignored us for twenty minutes while we waited at the transfer desk.",
        "The entertainment screen didn't work for the whole trip and nobody cared.",
        "I am writing to express my disappointment with the service on flight {num}.",
        "The announcement was so loud and so frequent nobody could sleep.",
        "The lounge in {city} was overcrowded and filthy, not what I pay for.",
        "A flight attendant laughed at {who} when we asked for water.",
        "Nobody from your company answered my emails for three weeks, which is shameful.",
        "The toilets on {day}'s flight were out of order for the whole journey, that is unacceptable.",
    ],
    "loyalty_points": [
        "My miles from the flight to {city} were never added to my account.",
        "How many points do I need for a free ticket to {city}?",
        "Can I transfer my miles to {who}?",
        "My frequent flyer status dropped and I don't understand why.",
        "Do the points expire if I don't fly this year?",
        "Can I use my miles to pay for part of my trip on {day}?",
        "I forgot to add my membership number to booking {num}, can I still collect the points?",
        "How do I reach gold tier in your rewards programme?",
        "The points balance in the app is lower than last month.",
        "Can I combine my miles with {who}'s to book one flight?",
        "Does my partner airline flight to {city} earn miles with you?",
        "I'd like to spend my reward points on a lounge pass in {city}.",
    ],
}

# background that names another intent's topic without asking for it: the distractors
CONTEXT: dict[str, list[str]] = {
    "refund": ["I paid a lot for this ticket.", "I'm not asking for my money back."],
    "rebooking": ["I've already changed my flight once.", "My flight to {city} was delayed yesterday."],
    "baggage": ["I'm only travelling with hand luggage.", "My suitcase arrived fine, no problem there."],
    "seat_upgrade": ["I'm sitting in economy.", "I'm happy with my seat."],
    "check_in": ["I already checked in online.", "I have my boarding pass."],
    "special_assistance": ["I'm travelling with {who}.", "I have a bad back."],
    "complaint": ["The staff have been lovely so far.", "The last flight was a bit of a mess."],
    "loyalty_points": ["I'm a gold member.", "I've been collecting miles with you for years."],
}
GREETINGS = ["", "", "Hi! ", "Hello. ", "Good morning. ", "Hey there! ", "Dear customer service. ", "Quick question. "]
CLOSINGS = ["", "", "", " Thanks.", " Thank you in advance.", " Please help.", " Regards, Sam.",
            " I need an answer today.", " Cheers!"]


def _request(rng: random.Random, intent: str) -> str:
    """One customer message asking for `intent`, often after a distractor sentence."""
    slots = {"city": rng.choice(CITIES), "day": rng.choice(DAYS), "num": f"QA{rng.randint(100, 999)}",
             "who": rng.choice(WHO)}
    ask = _sentence(rng.choice(ASKS[intent]).format(**slots))
    context = ""
    if rng.random() < 0.6:  # background about a different topic
        other = rng.choice([i for i in INTENTS if i != intent])
        context = _sentence(rng.choice(CONTEXT[other]).format(**slots)) + " "
    return rng.choice(GREETINGS) + context + ask + rng.choice(CLOSINGS)


def _sentence(text: str) -> str:
    """`text` with a capital first letter."""
    return text[0].upper() + text[1:]


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """Build the splits: unique texts across splits, every intent equally often in each split."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split, size in SPLITS.items():
        rows: list[dict] = []
        while len(rows) < size:
            intent = INTENTS[len(rows) % len(INTENTS)]
            text = _request(rng, intent)
            if text in seen:
                continue
            seen.add(text)
            rows.append({"id": f"{split}-{len(rows):04d}", "text": text, "label": intent})
        rng.shuffle(rows)  # labels not in a fixed cycle; ids keep the draw order
        splits[split] = rows
    return splits


def write(out_dir: Path = OUT_DIR) -> None:
    """Write one JSONL file per split."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
